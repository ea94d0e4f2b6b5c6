/*
 * What busybox cannot do for the loader's VM test, built static on the host:
 *   guest_helper exit N        leave qemu through isa-debug-exit (qemu exits (N<<1)|1);
 *                              this kernel has no /dev/port, so it needs ioperm + outb
 *   guest_helper time CMD...   run CMD, print its wall time in microseconds on stderr as
 *                              "elapsed_us=N", and exit with CMD's status
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "exit") == 0) {
		if (ioperm(0xf4, 4, 1) != 0) {
			perror("ioperm");
			return 1;
		}
		outb((unsigned char)atoi(argv[2]), 0xf4);
		return 1; /* not reached: qemu has exited */
	}
	if (argc >= 3 && strcmp(argv[1], "time") == 0) {
		long long start = now_us();
		pid_t pid = fork();
		int status = 0;

		if (pid == 0) {
			execvp(argv[2], argv + 2);
			perror(argv[2]);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &status, 0) < 0) {
			perror("fork/wait");
			return 1;
		}
		fprintf(stderr, "elapsed_us=%lld\n", now_us() - start);
		return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	}
	fprintf(stderr, "usage: guest_helper exit N | guest_helper time CMD [ARG...]\n");
	return 2;
}
