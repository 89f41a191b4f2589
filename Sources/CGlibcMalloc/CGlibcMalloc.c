// A C target needs a source file; everything this one offers is in its header.
#include "CGlibcMalloc.h"
