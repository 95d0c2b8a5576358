/*
 * TLS is verified by default: an https server on 127.0.0.1 with a
 * self-signed certificate (openssl, made in the test's temporary
 * directory; python3's ssl module serves it) is refused by an engine made
 * with default options, while the same request with verify_tls = false
 * goes through, which proves the server itself works. openssl and python3
 * come with the test dependencies: without them the cases fail.
 */
#include "satest.h"

#include "satfs/fetch.h"
#include "satfs/log.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char server_py[] =
	"import http.server, os, ssl, sys, threading, time\n"
	"def orphan(parent=os.getppid()):\n" /* ends with the test */
	"    while os.getppid() == parent: time.sleep(0.2)\n"
	"    os._exit(0)\n"
	"threading.Thread(target=orphan, daemon=True).start()\n"
	"class H(http.server.BaseHTTPRequestHandler):\n"
	"    def log_message(self, *a): pass\n"
	"    def do_GET(self):\n"
	"        self.send_response(200)\n"
	"        self.send_header('Content-Length', '2')\n"
	"        self.end_headers()\n"
	"        self.wfile.write(b'ok')\n"
	"d = sys.argv[1]\n"
	"srv = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
	"ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
	"ctx.load_cert_chain(d + '/cert.pem', d + '/key.pem')\n"
	"srv.socket = ctx.wrap_socket(srv.socket, server_side=True)\n"
	"open(d + '/port.tmp', 'w').write(str(srv.server_address[1]))\n"
	"os.rename(d + '/port.tmp', d + '/port')\n"
	"while True:\n"
	"    try:\n"
	"        srv.handle_request()\n"
	"    except Exception:\n"
	"        pass\n";

static pid_t server_pid;

/* Starts the https server; returns its port. */
static int tls_server(const char *dir)
{
	char cmd[1024], path[512];
	FILE *f;
	int port = 0, i;

	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey rsa:2048 -nodes -days 1 "
		 "-subj /CN=127.0.0.1 -keyout %s/key.pem -out %s/cert.pem "
		 ">/dev/null 2>&1", dir, dir);
	CHECK_INT(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/server.py", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	fputs(server_py, f);
	fclose(f);
	server_pid = fork();
	CHECK(server_pid >= 0);
	if (server_pid == 0) {
		execlp("python3", "python3", path, dir, (char *)NULL);
		_exit(127);
	}
	snprintf(path, sizeof(path), "%s/port", dir);
	for (i = 0; i < 200 && !port; i++) {
		f = fopen(path, "r");
		if (f) {
			if (fscanf(f, "%d", &port) != 1)
				port = 0;
			fclose(f);
		}
		if (!port)
			usleep(50000);
	}
	CHECK(port > 0);
	return port;
}

SAT_TEST(tls_verified_by_default)
{
	struct sat_fetch_opts insecure = { .verify_tls = false,
					   .max_tries = 1 };
	struct sat_fetch_req r = { 0 };
	struct sat_fetch_result res;
	struct sat_fetch *f;
	char url[128];
	int port;

	satest_need_program("openssl");
	satest_need_program("python3");
	sat_log_set_level(SAT_LOG_ERROR);
	port = tls_server(satest_tmpdir());
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/x.tif", port);
	r.url = url;

	/* Default options: the self-signed certificate is refused, at
	 * once and for good (a TLS failure is not retried). */
	CHECK_INT(sat_fetch_new(&f, NULL), 0);
	CHECK(sat_fetch_sync(f, &r, &res) != 0);
	CHECK_INT(res.status, 0);
	CHECK(res.data == NULL);
	CHECK_INT(res.tries, 1);
	sat_fetch_result_clear(&res);
	sat_fetch_free(f);

	/* Without verification the same server answers: the refusal above
	 * was the certificate, not the server. */
	CHECK_INT(sat_fetch_new(&f, &insecure), 0);
	CHECK_INT(sat_fetch_sync(f, &r, &res), 0);
	CHECK_INT(res.status, 200);
	CHECK_INT(res.len, 2);
	CHECK(!memcmp(res.data, "ok", 2));
	sat_fetch_result_clear(&res);
	sat_fetch_free(f);

	kill(server_pid, SIGTERM);
	waitpid(server_pid, NULL, 0);
}
