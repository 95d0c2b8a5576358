/* fuse_later: see fuse_later.h. */
#define FUSE_USE_VERSION 312
#include "fuse_later.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Is the caller being killed: a signal pending that it neither catches
 * nor ignores and whose default action ends it (SIGKILL always), or gone
 * already? From /proc/PID/status. A benign signal (SIGCHLD to a shell, a
 * SIGINT a program handles) is not: answering EINTR then would fail its
 * opendir or open, which programs do not retry. */
static bool caller_dying(pid_t pid)
{
	/* signals whose default action is not to end the process */
	const uint64_t benign = (1ull << (SIGCHLD - 1)) |
				(1ull << (SIGCONT - 1)) |
				(1ull << (SIGSTOP - 1)) |
				(1ull << (SIGTSTP - 1)) |
				(1ull << (SIGTTIN - 1)) |
				(1ull << (SIGTTOU - 1)) |
				(1ull << (SIGURG - 1)) |
				(1ull << (SIGWINCH - 1));
	uint64_t pnd = 0, shd = 0, ign = 0, cgt = 0, v;
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "re");
	if (!f)
		return true;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "SigPnd: %" SCNx64, &v) == 1)
			pnd = v;
		else if (sscanf(line, "ShdPnd: %" SCNx64, &v) == 1)
			shd = v;
		else if (sscanf(line, "SigIgn: %" SCNx64, &v) == 1)
			ign = v;
		else if (sscanf(line, "SigCgt: %" SCNx64, &v) == 1)
			cgt = v;
	}
	fclose(f);
	pnd |= shd;
	if (pnd & (1ull << (SIGKILL - 1)))
		return true;
	return (pnd & ~ign & ~cgt & ~benign) != 0;
}

/* Requests interrupted by a signal that did not kill their caller (yet):
 * the kernel sends one INTERRUPT per request, so a kill -9 that comes
 * later would find nobody listening. A thread looks at their callers a
 * few times a second while there are any. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct later *head; /* protected by lock */
	bool started;       /* protected by lock */
} watch = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL,
	    false };

#define WATCH_PERIOD_MS 100

/* Claims l (for an answer, or an EINTR); true when it was not claimed
 * yet. */
static bool later_take(struct later *l)
{
	bool mine;

	pthread_mutex_lock(&l->lock);
	mine = !l->claimed;
	l->claimed = true;
	pthread_mutex_unlock(&l->lock);
	return mine;
}

static void *watch_main(void *arg)
{
	struct timespec ts;
	struct later **pp, *l;

	(void)arg;
	pthread_mutex_lock(&watch.lock);
	for (;;) {
		while (!watch.head)
			pthread_cond_wait(&watch.cond, &watch.lock);
		for (pp = &watch.head; (l = *pp);) {
			if (!caller_dying(l->pid)) {
				pp = &l->wnext;
				continue;
			}
			*pp = l->wnext;
			l->watched = false;
			/* the answer may not have come: then it is ours (the
			 * answer's later_free waits for watch.lock) */
			if (later_take(l))
				fuse_reply_err(l->req, EINTR);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += WATCH_PERIOD_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&watch.cond, &watch.lock, &ts);
	}
	return NULL;
}

/* The kernel's INTERRUPT, on a libfuse thread holding the request's lock:
 * EINTR now if the caller is being killed (and the answer did not go
 * first), else watched until it is, or until the answer goes. */
static void later_interrupted(fuse_req_t req, void *data)
{
	struct later *l = data;
	pthread_t t;

	if (caller_dying(l->pid)) {
		if (later_take(l))
			fuse_reply_err(req, EINTR);
		return;
	}
	pthread_mutex_lock(&watch.lock);
	if (!watch.started &&
	    pthread_create(&t, NULL, watch_main, NULL) == 0) {
		pthread_detach(t);
		watch.started = true;
	}
	if (!l->watched) {
		l->watched = true;
		l->wnext = watch.head;
		watch.head = l;
		pthread_cond_signal(&watch.cond);
	}
	pthread_mutex_unlock(&watch.lock);
}

struct later *sat_later_new(fuse_req_t req, struct fuse_file_info *fi,
			    struct sat_core *core)
{
	struct later *l = calloc(1, sizeof(*l));

	if (!l) {
		fuse_reply_err(req, ENOMEM);
		return NULL;
	}
	l->req = req;
	l->core = core;
	l->pid = fuse_req_ctx(req)->pid;
	if (fi)
		l->fi = *fi;
	pthread_mutex_init(&l->lock, NULL);
	/* may call later_interrupted() at once, when the caller was
	 * signalled already */
	fuse_req_interrupt_func(req, later_interrupted, l);
	return l;
}

/* The answer is ready: may it be given? Then the request is the caller's
 * to reply to; else an interrupt answered it, and the caller undoes its
 * work and replies nothing. Either way l is the caller's to free. */
bool sat_later_claim(struct later *l)
{
	bool mine = later_take(l);

	/* unregistering takes the request's lock, which an interrupt
	 * callback in progress holds: none runs after this, and none will
	 * use l again */
	if (mine)
		fuse_req_interrupt_func(l->req, NULL, NULL);
	return mine;
}

void sat_later_free(struct later *l)
{
	struct later **pp;

	pthread_mutex_lock(&watch.lock);
	if (l->watched)
		for (pp = &watch.head; *pp; pp = &(*pp)->wnext)
			if (*pp == l) {
				*pp = l->wnext;
				break;
			}
	pthread_mutex_unlock(&watch.lock);
	pthread_mutex_destroy(&l->lock);
	free(l);
}
