/*
 * engine.c - the session's messages (engine.h), which the session, the
 * sink and the engines all set: kept apart from session.c so that the
 * sink, which session.c calls, does not call back into session.c.
 */
#include <stdarg.h>
#include <stdio.h>

#include "engine.h"

void emt_session_warn(struct emt_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->warning, sizeof(s->warning), fmt, ap);
	va_end(ap);
}

int emt_session_fail(struct emt_session *s, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
	va_end(ap);
	return err;
}
