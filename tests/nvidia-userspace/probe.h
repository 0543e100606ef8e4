/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What cuda_probe.c and cudart_probe.c share: the watchdog that turns a call that never
 * returns into a "HANG name" line (exit 3), symbol look-up that reports a missing one
 * (exit 2), and line-buffered output.
 */
#ifndef FAKEGPU_PROBE_H
#define FAKEGPU_PROBE_H

#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* The call in progress, for the watchdog. */
static const char *current = "dlopen";
/* Seconds a call may take (CUDA_PROBE_TIMEOUT, default 60). */
static unsigned timeout = 60;

static void on_alarm(int sig)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "HANG %s\n", current);

	(void)sig;
	if (n > 0)
		write(1, line, (size_t)n);
	_exit(3);
}

/* Line-buffered stdout and the watchdog, from CUDA_PROBE_TIMEOUT. */
static void probe_start(void)
{
	const char *env = getenv("CUDA_PROBE_TIMEOUT");

	if (env)
		timeout = (unsigned)atoi(env);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGALRM, on_alarm);
}

static void *sym(void *lib, const char *name)
{
	void *f = dlsym(lib, name);

	if (!f) {
		printf("MISSING %s\n", name);
		exit(2);
	}
	return f;
}

/* Runs `call` (returning an int status) under the watchdog and reports it with check(). */
#define RUN(name, call)                      \
	do {                                 \
		current = name;              \
		alarm(timeout);              \
		int r_ = (call);             \
		alarm(0);                    \
		check(name, r_);             \
	} while (0)

#endif
