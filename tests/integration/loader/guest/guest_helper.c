/*
 * What busybox cannot do for the loader's VM test, built static on the host:
 *   guest_helper exit N        leave qemu through isa-debug-exit (qemu exits (N<<1)|1);
 *                              this kernel has no /dev/port, so it needs ioperm + outb
 *   guest_helper time CMD...   run CMD, print its wall time in microseconds on stderr as
 *                              "elapsed_us=N", and exit with CMD's status
 *   guest_helper add-key DER   give an X.509 certificate to the kernel as an asymmetric key
 *                              in the user keyring (keyctl padd asymmetric "" @u): the
 *                              kernel names it itself, as it names its trusted keys
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/keyctl.h>
#include <sys/io.h>
#include <sys/syscall.h>
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
	if (argc == 3 && strcmp(argv[1], "add-key") == 0) {
		char der[16384];
		FILE *f = fopen(argv[2], "rb");
		size_t size = f ? fread(der, 1, sizeof(der), f) : 0;

		if (f)
			fclose(f);
		if (size == 0 || size == sizeof(der)) {
			fprintf(stderr, "add-key: cannot read %s\n", argv[2]);
			return 1;
		}
		if (syscall(SYS_add_key, "asymmetric", NULL, der, size, KEY_SPEC_USER_KEYRING) < 0) {
			perror("add_key");
			return 1;
		}
		return 0;
	}
	fprintf(stderr, "usage: guest_helper exit N | time CMD [ARG...] | add-key DER\n");
	return 2;
}
