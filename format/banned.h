/*
 * banned.h - string functions that write without a bound, refused in
 * emt's own sources (model: git's banned.h).  The Makefile puts it
 * first in every object of format/, capture/, tools/ and readers/
 * (-include); tests and fixtures may still use them.
 *
 * Use snprintf (emt_fmt in format/), memcpy with a counted size, or a
 * bounded writer (cli_row, cli_json) instead.
 *
 * The system headers that declare them come first, so that the macros
 * below do not rewrite their declarations; a later #include of them is
 * a no-op.
 */
#ifndef EMT_BANNED_H
#define EMT_BANNED_H

#include <stdio.h>
#include <string.h>

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strcpy
#define strcpy(...) BANNED(strcpy)
#undef strcat
#define strcat(...) BANNED(strcat)
#undef gets
#define gets(...) BANNED(gets)

#endif /* EMT_BANNED_H */
