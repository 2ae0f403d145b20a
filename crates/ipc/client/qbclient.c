/*
 * A real libqb IPC client for the tests and the bench of ccfs-ipc. It talks
 * to the server exactly like PVE::IPCC does: qb_ipcc_connect(name, 1 MiB)
 * and qb_ipcc_sendv_recv with an infinite timeout and a 1 MiB buffer.
 *
 *   qbclient NAME script
 *       stdout: i32 connect result (0 or -errno), then for every request
 *       read from stdin as {u32 length, bytes}: i32 result of
 *       qb_ipcc_sendv_recv, followed by that many response bytes if > 0.
 *       End of stdin: qb_ipcc_disconnect, exit 0.
 *   qbclient NAME bench COUNT HEXREQUEST
 *       sends the request COUNT times; prints one latency in ns per line;
 *       exits 2 if a response reports an error.
 *
 * All integers little-endian (host order on x86-64).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/uio.h>
#include <qb/qbipcc.h>

#define MAX_MSG (8192 * 128)

static char response[MAX_MSG];

static int write_all(const void *buf, size_t len)
{
	return fwrite(buf, 1, len, stdout) == len ? 0 : -1;
}

static int read_all(void *buf, size_t len)
{
	return fread(buf, 1, len, stdin) == len ? 0 : -1;
}

static int run_script(qb_ipcc_connection_t *conn)
{
	uint32_t len;
	char *req = malloc(MAX_MSG + 16);
	if (req == NULL)
		return 1;
	while (read_all(&len, sizeof(len)) == 0) {
		if (len > MAX_MSG + 16 || read_all(req, len) != 0)
			return 1;
		struct iovec iov = { .iov_base = req, .iov_len = len };
		int32_t res = qb_ipcc_sendv_recv(conn, &iov, 1, response, sizeof(response), -1);
		if (write_all(&res, sizeof(res)) != 0)
			return 1;
		if (res > 0 && write_all(response, (size_t)res) != 0)
			return 1;
		fflush(stdout);
	}
	free(req);
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int run_bench(qb_ipcc_connection_t *conn, long count, const char *hex)
{
	size_t len = strlen(hex) / 2;
	char *req = malloc(len ? len : 1);
	if (req == NULL)
		return 1;
	for (size_t i = 0; i < len; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return 1;
		req[i] = (char)(hi * 16 + lo);
	}
	for (long n = 0; n < count; n++) {
		struct timespec a, b;
		struct iovec iov = { .iov_base = req, .iov_len = len };
		clock_gettime(CLOCK_MONOTONIC, &a);
		int32_t res = qb_ipcc_sendv_recv(conn, &iov, 1, response, sizeof(response), -1);
		clock_gettime(CLOCK_MONOTONIC, &b);
		if (res < 24 || *(int32_t *)(response + 16) != 0) {
			fprintf(stderr, "request %ld failed: %d\n", n, res);
			return 2;
		}
		long long ns = (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
		printf("%lld\n", ns);
	}
	free(req);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: qbclient NAME script | NAME bench COUNT HEX\n");
		return 1;
	}
	qb_ipcc_connection_t *conn = qb_ipcc_connect(argv[1], MAX_MSG);
	int32_t connected = conn ? 0 : -errno;
	int rc;
	if (strcmp(argv[2], "script") == 0) {
		if (write_all(&connected, sizeof(connected)) != 0)
			return 1;
		fflush(stdout);
		if (conn == NULL)
			return 0;
		rc = run_script(conn);
	} else if (strcmp(argv[2], "bench") == 0 && argc == 5) {
		if (conn == NULL) {
			fprintf(stderr, "connect failed: %s\n", strerror(-connected));
			return 1;
		}
		rc = run_bench(conn, atol(argv[3]), argv[4]);
	} else {
		return 1;
	}
	qb_ipcc_disconnect(conn);
	return rc;
}
