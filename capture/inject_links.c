/*
 * inject_links.c - injected ranges per victim (inject_links.h).
 * Injections are rare: a flat array searched from its newest entry.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "inject_links.h"

struct range {
	pid_t    pid;
	uint64_t addr, end;
	int64_t  id;
};

struct inject_links {
	pthread_mutex_t mu;
	struct range *r;
	size_t n, cap;
};

struct inject_links *inject_links_new(void)
{
	struct inject_links *l = calloc(1, sizeof(*l));

	if (l)
		pthread_mutex_init(&l->mu, NULL);
	return l;
}

void inject_links_free(struct inject_links *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->mu);
	free(l->r);
	free(l);
}

int inject_links_add(struct inject_links *l, pid_t pid, uint64_t addr, uint64_t len,
		     int64_t id)
{
	int err = 0;

	pthread_mutex_lock(&l->mu);
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 16;
		struct range *nr = realloc(l->r, nc * sizeof(*nr));

		if (nr) {
			l->r = nr;
			l->cap = nc;
		} else {
			err = -ENOMEM;
		}
	}
	if (!err) {
		uint64_t end = addr + len < addr ? UINT64_MAX : addr + len;

		l->r[l->n++] = (struct range){ pid, addr, end, id };
	}
	pthread_mutex_unlock(&l->mu);
	return err;
}

int64_t inject_links_find(struct inject_links *l, pid_t pid, uint64_t addr,
			  uint64_t size)
{
	uint64_t end = addr + size < addr ? UINT64_MAX : addr + size;
	int64_t id = 0;

	pthread_mutex_lock(&l->mu);
	for (size_t i = l->n; i-- > 0 && !id;)
		if (l->r[i].pid == pid && l->r[i].addr < end && addr < l->r[i].end)
			id = l->r[i].id;
	pthread_mutex_unlock(&l->mu);
	return id;
}

void inject_links_forget(struct inject_links *l, pid_t pid)
{
	size_t k = 0;

	pthread_mutex_lock(&l->mu);
	for (size_t i = 0; i < l->n; i++)
		if (l->r[i].pid != pid)
			l->r[k++] = l->r[i];
	l->n = k;
	pthread_mutex_unlock(&l->mu);
}
