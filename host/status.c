#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *ptx_strerror(ptx_status status)
{
    switch (status) {
#define PTX_STATUS_TEXT_(name, value, text, code)                                                  \
    case PTX_##name:                                                                               \
        return text;
        PTX_STATUS_MAP(PTX_STATUS_TEXT_)
#undef PTX_STATUS_TEXT_
    }
    return "unknown status";
}

const char *ptx_status_code(ptx_status status)
{
    switch (status) {
#define PTX_STATUS_CODE_(name, value, text, code)                                                  \
    case PTX_##name:                                                                               \
        return code;
        PTX_STATUS_MAP(PTX_STATUS_CODE_)
#undef PTX_STATUS_CODE_
    }
    return "internal_error";
}

ptx_status ptx_fail(ptx_error *error, ptx_status status, const char *field, const char *format, ...)
{
    if (error == NULL)
        return status;
    error->status = status;
    snprintf(error->field, sizeof error->field, "%s", field ? field : "");
    va_list args;
    va_start(args, format);
    vsnprintf(error->message, sizeof error->message, format, args);
    va_end(args);
    return status;
}

void ptx_error_clear(ptx_error *error)
{
    if (error == NULL)
        return;
    error->status = PTX_OK;
    error->field[0] = '\0';
    error->message[0] = '\0';
}
