/*
 * fuse_later: FUSE requests answered later (from another thread), and the
 * kernel's INTERRUPTs for them: EINTR goes back only when the caller is
 * being killed, so that a killed `ls` is gone at once while a benign
 * signal (SIGCHLD to a shell) fails nothing. Private to fs/fuse_ll.c.
 */
#ifndef SATFS_FUSE_LATER_H
#define SATFS_FUSE_LATER_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

struct sat_core;

/* A request answered later, with its file info when it has one. */
struct later {
	fuse_req_t req;       /* gone once an interrupt answered it */
	struct sat_core *core;
	struct fuse_file_info fi;
	size_t size;          /* getxattr: the caller's buffer */
	pid_t pid;            /* the caller (a thread id) */
	pthread_mutex_t lock;
	bool claimed;         /* protected by lock: answered, or interrupted */
	struct later *wnext;  /* protected by watch.lock */
	bool watched;         /* protected by watch.lock */
};

/* Registers req's interrupt callback; NULL (ENOMEM replied) when out of
 * memory. */
struct later *sat_later_new(fuse_req_t req, struct fuse_file_info *fi,
			    struct sat_core *core);
/* The answer is ready: may it be given? Then the request is the caller's
 * to reply to; else an interrupt answered it, and the caller undoes its
 * work and replies nothing. Either way l is the caller's to free. */
bool sat_later_claim(struct later *l);
void sat_later_free(struct later *l);

#endif
