#ifndef LEDGERLINK_CNCURSESW_SHIM_H
#define LEDGERLINK_CNCURSESW_SHIM_H
// SwiftPM drops pkg-config's -D flags, so ask for the wide-character API here.
#define NCURSES_WIDECHAR 1
#include <locale.h>
#include <ncursesw/curses.h>

// Macros and globals Swift cannot import (or rejects as not concurrency-safe).
static inline WINDOW *ll_stdscr(void) { return stdscr; }
static inline int ll_lines(void) { return LINES; }
static inline int ll_cols(void) { return COLS; }
static inline int ll_getmaxy(WINDOW *w) { int y, x; getmaxyx(w, y, x); (void)x; return y; }
static inline int ll_getmaxx(WINDOW *w) { int y, x; getmaxyx(w, y, x); (void)y; return x; }
static inline attr_t ll_a_normal(void) { return A_NORMAL; }
static inline attr_t ll_a_bold(void) { return A_BOLD; }
static inline attr_t ll_a_reverse(void) { return A_REVERSE; }
static inline attr_t ll_a_dim(void) { return A_DIM; }
static inline attr_t ll_a_underline(void) { return A_UNDERLINE; }
static inline int ll_key_f(int n) { return KEY_F(n); }

// wcwidth is declared only under _XOPEN_SOURCE, which SwiftPM does not pass.
extern int wcwidth(wchar_t c);
static inline int ll_wcwidth(unsigned int c) { return wcwidth((wchar_t)c); }
#endif
