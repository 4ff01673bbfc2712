/* Errors from user input: a status code and a message that says where and what. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "edagari.h"

eg_status eg_fail(eg_error *err, eg_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

eg_status eg_fail_more(eg_error *err, eg_status code, const char *fmt, ...)
{
    if (!err) return code;
    size_t l = strlen(err->msg);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg + l, sizeof err->msg - l, fmt, ap);
    va_end(ap);
    return err->code = code;
}
