// glibc's allocator controls (mallopt and its M_* parameters), which Swift's Glibc module leaves
// out. Empty where the C library is not glibc.
#ifndef PATRON_CGLIBCMALLOC_H
#define PATRON_CGLIBCMALLOC_H

#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif

#endif
