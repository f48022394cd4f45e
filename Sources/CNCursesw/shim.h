#ifndef LEDGERLINK_CNCURSESW_SHIM_H
#define LEDGERLINK_CNCURSESW_SHIM_H
// SwiftPM drops pkg-config's -D flags, so ask for the wide-character API here.
#define NCURSES_WIDECHAR 1
#include <locale.h>
#include <langinfo.h>
#include <sys/ioctl.h>
#include <unistd.h>
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
// The terminal's size now, from the kernel: ncurses learns of a resize only when it next
// reads, after keys typed meanwhile.
static inline int ll_tty_size(int *columns, int *rows) {
    struct winsize size;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) != 0) return 0;
    *columns = size.ws_col;
    *rows = size.ws_row;
    return 1;
}

// Mouse events: the button masks are function-like macros Swift cannot import.
static inline mmask_t ll_mouse_mask(void) {
    return BUTTON1_PRESSED | BUTTON1_CLICKED | BUTTON4_PRESSED | BUTTON5_PRESSED;
}
// Reads the pending mouse event: 1 for a left click, 2 for the wheel up, 3 for the wheel
// down, 0 for anything else or none; the cell goes to *x and *y.
static inline int ll_mouse_event(int *x, int *y) {
    MEVENT event;
    if (getmouse(&event) != OK) return 0;
    *x = event.x;
    *y = event.y;
    if (event.bstate & BUTTON4_PRESSED) return 2;
    if (event.bstate & BUTTON5_PRESSED) return 3;
    if (event.bstate & (BUTTON1_PRESSED | BUTTON1_CLICKED)) return 1;
    return 0;
}
static inline int ll_key_mouse(void) { return KEY_MOUSE; }

// wcwidth is declared only under _XOPEN_SOURCE, which SwiftPM does not pass.
extern int wcwidth(wchar_t c);
static inline int ll_wcwidth(unsigned int c) { return wcwidth((wchar_t)c); }
#endif
