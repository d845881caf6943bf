/*
 * execute CONFIG REQUEST.json...: runs each request file (the JSON body of
 * POST /execute) through one in-process ptexec host, each on its own thread,
 * prints each response on stdout in argument order and a summary line per
 * request on stderr. Exit 0 when every request ran, 1 otherwise.
 *   cc $(pkg-config --cflags ptexec) execute.c $(pkg-config --libs ptexec) -lpthread
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <ptexec/host.h>

typedef struct job {
    ptexec_host *host;
    const char *path;
    char *request;
    size_t length;
    ptexec_result result;
    ptexec_error error;
    ptexec_status status;
    int started;
} job;

/* Reads a whole file into a heap buffer; NULL when it cannot. */
static char *read_file(const char *path, size_t *length)
{
    FILE *file = fopen(path, "rb");
    char *text = NULL;
    if (file != NULL && fseek(file, 0, SEEK_END) == 0) {
        long size = ftell(file);
        rewind(file);
        text = size >= 0 ? malloc((size_t)size + 1) : NULL;
        if (text != NULL)
            *length = fread(text, 1, (size_t)size, file);
    }
    if (file != NULL)
        fclose(file);
    return text;
}

static void *run(void *context)
{
    job *j = context;
    j->status = ptexec_execute(j->host, j->request, j->length, NULL, &j->result, &j->error);
    return NULL;
}

static void report(const job *j)
{
    if (!j->started)
        fprintf(stderr, "%s: cannot read it or start a thread\n", j->path);
    else if (j->result.body != NULL)
        printf("%s\n", j->result.body);
    if (j->started && j->status == PTEXEC_OK)
        fprintf(stderr, "%s: %s %s (HTTP %u)\n", j->path, j->result.execution_id, j->result.status,
                j->result.http_status);
    else if (j->started)
        fprintf(stderr, "%s: error %s: %s\n", j->path, j->error.code, j->error.message);
}

int main(int argc, char **argv)
{
    ptexec_host *host = NULL;
    ptexec_error error;
    if (argc < 3) {
        fprintf(stderr, "usage: %s CONFIG REQUEST.json...\n", argv[0]);
        return 2;
    }
    if (ptexec_open_file(argv[1], 0, &host, &error) != PTEXEC_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], error.message);
        return 2;
    }
    size_t count = (size_t)argc - 2, failures = 0;
    job *jobs = calloc(count, sizeof *jobs);
    pthread_t *threads = calloc(count, sizeof *threads);
    for (size_t i = 0; jobs != NULL && threads != NULL && i < count; i++) {
        jobs[i] = (job){.host = host, .path = argv[i + 2], .status = PTEXEC_IO};
        jobs[i].request = read_file(jobs[i].path, &jobs[i].length);
        jobs[i].started =
            jobs[i].request != NULL && pthread_create(&threads[i], NULL, run, &jobs[i]) == 0;
    }
    for (size_t i = 0; jobs != NULL && threads != NULL && i < count; i++) {
        if (jobs[i].started)
            pthread_join(threads[i], NULL);
        report(&jobs[i]);
        failures += jobs[i].status != PTEXEC_OK;
        ptexec_free(jobs[i].result.body);
        free(jobs[i].request);
    }
    failures += jobs == NULL || threads == NULL;
    free(threads);
    free(jobs);
    ptexec_close(host);
    return failures > 0 ? 1 : 0;
}
