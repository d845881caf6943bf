#include "registry.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* Under AddressSanitizer plugins stay mapped, so leak reports keep their
 * symbols (style.md §10). */
#if defined(__SANITIZE_ADDRESS__)
#define REGISTRY_KEEP_MAPPED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REGISTRY_KEEP_MAPPED 1
#endif
#endif
#ifndef REGISTRY_KEEP_MAPPED
#define REGISTRY_KEEP_MAPPED 0
#endif

#define REGISTRY_REASON_MAX 384
#define REGISTRY_PROBE_TIMEOUT_MS 10000

/* Keys of a [broker.NAME] section that the host itself reads. */
static const char *const registry_host_keys[] = {"plugin",
                                                 "mode",
                                                 "max_retries",
                                                 "retry_base_ms",
                                                 "retry_max_ms",
                                                 "order_timeout_ms",
                                                 "poll_interval_ms",
                                                 "rate_limit_per_second",
                                                 "rate_limit_per_minute",
                                                 "read_rate_limit_per_second",
                                                 "read_rate_limit_per_minute",
                                                 "max_in_flight",
                                                 "on_insufficient_funds",
                                                 "funds_policy",
                                                 "funds_margin_bps",
                                                 "order_type",
                                                 "limit_offset_bps",
                                                 "reprice_attempts",
                                                 "seed",
                                                 NULL};

/* The host side of one instance: what the services table works on. */
struct broker_host {
    char *name;             /* the broker's name, used as the log module */
    config_section section; /* deep copy of [broker.NAME] */
    pthread_mutex_t random_lock;
    uint64_t random_state[4];
};

struct registry_broker {
    broker_host host;
    char *file;
    void *handle;
    const broker_plugin *plugin; /* the plugin's own descriptor */
    broker_plugin view;          /* a copy, zero past the plugin's size: what callers see */
    registry_features features;
    broker_instance *instance;
    broker_settings settings;
    bool serialize;
    pthread_mutex_t call_lock;
};

typedef struct registry_refusal {
    char *name;
    char *message;
} registry_refusal;

struct registry {
    registry_broker **loaded;
    size_t loaded_count;
    registry_refusal *refused;
    size_t refused_count;
};

/* Why a plugin was refused: the stage (open, symbol, abi, init) and reason. */
typedef struct registry_verdict {
    const char *stage;
    char reason[REGISTRY_REASON_MAX];
} registry_verdict;

static bool verdict_refuse(registry_verdict *verdict, const char *stage, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
static bool verdict_refuse(registry_verdict *verdict, const char *stage, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    verdict->stage = stage;
    vsnprintf(verdict->reason, sizeof verdict->reason, format, args);
    va_end(args);
    return false;
}

/* ---- host services lent to plugins ---- */

static void service_log(broker_host *host, broker_log_level level, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
static void service_log(broker_host *host, broker_log_level level, const char *format, ...)
{
    log_level host_level = level <= BROKER_LOG_DEBUG ? (log_level)level : LOG_INFO;
    if (format == NULL || !log_enabled(host_level))
        return;
    char message[2048];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    log_write(host_level, host && host->name ? host->name : "plugin", "%s", message);
}

static const char *service_config_get(broker_host *host, const char *key)
{
    if (host == NULL || key == NULL)
        return NULL;
    return config_get(&host->section, key);
}

static int64_t clock_ms(clockid_t clock)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static int64_t service_now_ms(broker_host *host)
{
    (void)host;
    return clock_ms(CLOCK_REALTIME);
}

static int64_t service_monotonic_ms(broker_host *host)
{
    (void)host;
    return clock_ms(CLOCK_MONOTONIC);
}

static void service_sleep_ms(broker_host *host, uint32_t milliseconds)
{
    (void)host;
    struct timespec remaining = {milliseconds / 1000, (long)(milliseconds % 1000) * 1000000L};
    while (nanosleep(&remaining, &remaining) != 0 && errno == EINTR)
        ;
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotate_left(uint64_t value, int bits)
{
    return (value << bits) | (value >> (64 - bits));
}

/* xoshiro256** seeded through splitmix64. */
static uint64_t service_random_u64(broker_host *host)
{
    if (host == NULL)
        return 0;
    pthread_mutex_lock(&host->random_lock);
    uint64_t *s = host->random_state;
    uint64_t result = rotate_left(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotate_left(s[3], 45);
    pthread_mutex_unlock(&host->random_lock);
    return result;
}

static void host_seed_random(broker_host *host, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        host->random_state[i] = splitmix64(&seed);
}

static const broker_host_services registry_services = {
    .abi_major = BROKER_ABI_MAJOR,
    .abi_minor = BROKER_ABI_MINOR,
    .size = sizeof(broker_host_services),
    .log = service_log,
    .config_get = service_config_get,
    .now_ms = service_now_ms,
    .monotonic_ms = service_monotonic_ms,
    .sleep_ms = service_sleep_ms,
    .random_u64 = service_random_u64,
};

/* ---- file checks (stage open) ---- */

static bool check_file_name(const char *file, registry_verdict *verdict)
{
    size_t length = strlen(file);
    if (length == 0)
        return verdict_refuse(verdict, "open", "empty plugin file name");
    if (strchr(file, '/') != NULL)
        return verdict_refuse(verdict, "open",
                              "plugin must be a bare file name in plugin_dir (no '/')");
    if (strstr(file, "..") != NULL)
        return verdict_refuse(verdict, "open", "plugin file name must not contain '..'");
    if (length <= 3 || strcmp(file + length - 3, ".so") != 0)
        return verdict_refuse(verdict, "open", "plugin file name must end in .so");
    return true;
}

/* Refuses anything that others than the owner could replace. */
static bool check_permissions(const char *what, const char *path, bool directory,
                              registry_verdict *verdict)
{
    struct stat info;
    if (stat(path, &info) != 0)
        return verdict_refuse(verdict, "open", "%s %s: %s", what, path, strerror(errno));
    if (directory && !S_ISDIR(info.st_mode))
        return verdict_refuse(verdict, "open", "%s %s is not a directory", what, path);
    if (!directory && !S_ISREG(info.st_mode))
        return verdict_refuse(verdict, "open", "%s %s is not a regular file", what, path);
    if (info.st_mode & (S_IWGRP | S_IWOTH))
        return verdict_refuse(verdict, "open", "%s %s is %s-writable (mode %04o)", what, path,
                              (info.st_mode & S_IWOTH) ? "world" : "group",
                              (unsigned)(info.st_mode & 07777));
    return true;
}

/* A symlinked plugin: the real file and its folder must be safe too. */
static bool check_link_target(const char *path, registry_verdict *verdict)
{
    struct stat info;
    if (lstat(path, &info) != 0 || !S_ISLNK(info.st_mode))
        return true;
    char real[PATH_MAX];
    if (realpath(path, real) == NULL)
        return verdict_refuse(verdict, "open", "plugin file %s: %s", path, strerror(errno));
    if (!check_permissions("plugin file", real, false, verdict))
        return false;
    char *slash = strrchr(real, '/');
    if (slash == real)
        slash[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
    return check_permissions("folder of the plugin file", real, true, verdict);
}

static char *path_join(const char *directory, const char *file);

/*
 * Finds `file` in cfg->plugin_path: the first folder holding it wins. Every
 * folder searched up to it must not be group- or world-writable (a missing
 * one is skipped when there are several). Returns the path (heap), or NULL
 * with `verdict` filled (verdict->stage NULL: out of memory).
 */
static char *registry_locate(const config *cfg, const char *file, registry_verdict *verdict)
{
    const char *label = cfg->plugin_path_count > 1 ? "plugin_path folder" : "plugin_dir";
    static const char *const here[] = {"."};
    const char *const *folders =
        cfg->plugin_path_count ? (const char *const *)cfg->plugin_path : here;
    size_t count = cfg->plugin_path_count ? cfg->plugin_path_count : 1;
    struct stat info;
    for (size_t i = 0; i < count; i++) {
        if (count > 1 && stat(folders[i], &info) != 0 && errno == ENOENT)
            continue;
        if (!check_permissions(label, folders[i], true, verdict))
            return NULL;
        char *path = path_join(folders[i], file);
        if (path == NULL) {
            verdict->stage = NULL;
            return NULL;
        }
        if (count == 1 || stat(path, &info) == 0 || errno != ENOENT) {
            if (check_permissions("plugin file", path, false, verdict) &&
                check_link_target(path, verdict))
                return path;
            free(path);
            return NULL;
        }
        free(path);
    }
    verdict_refuse(verdict, "open", "plugin file %s: not found in plugin_path (%zu folders)", file,
                   count);
    return NULL;
}

/* Appends `name` to the comma-separated `names` (`size` bytes). */
static void names_append(char *names, size_t size, const char *name)
{
    size_t used = strlen(names);
    if (used + 1 < size)
        snprintf(names + used, size - used, "%s%s", used ? ", " : "", name);
}

/* Counts the dynamic symbols a 64-bit ELF file exports besides the entry
 * (defined, global or weak, default or protected visibility), listing the
 * first ones in `names`. 0 for anything it cannot read. */
static size_t elf_count_foreign(const unsigned char *image, size_t length, char *names, size_t size)
{
    const Elf64_Ehdr *header = (const Elf64_Ehdr *)image;
    if (length < sizeof *header || memcmp(header->e_ident, ELFMAG, SELFMAG) != 0 ||
        header->e_ident[EI_CLASS] != ELFCLASS64 || header->e_shentsize != sizeof(Elf64_Shdr) ||
        header->e_shoff > length ||
        header->e_shnum > (length - header->e_shoff) / sizeof(Elf64_Shdr))
        return 0;
    const Elf64_Shdr *sections = (const Elf64_Shdr *)(image + header->e_shoff);
    size_t count = 0;
    for (size_t i = 0; i < header->e_shnum; i++) {
        const Elf64_Shdr *table = &sections[i];
        if (table->sh_type != SHT_DYNSYM || table->sh_link >= header->e_shnum)
            continue;
        const Elf64_Shdr *strings = &sections[table->sh_link];
        if (table->sh_offset > length || table->sh_size > length - table->sh_offset ||
            strings->sh_offset > length || strings->sh_size > length - strings->sh_offset)
            return 0;
        const Elf64_Sym *symbols = (const Elf64_Sym *)(image + table->sh_offset);
        const char *text = (const char *)(image + strings->sh_offset);
        for (size_t k = 0; k < table->sh_size / sizeof(Elf64_Sym); k++) {
            const Elf64_Sym *symbol = &symbols[k];
            unsigned bind = ELF64_ST_BIND(symbol->st_info);
            unsigned visibility = ELF64_ST_VISIBILITY(symbol->st_other);
            if (symbol->st_shndx == SHN_UNDEF || symbol->st_name >= strings->sh_size ||
                (bind != STB_GLOBAL && bind != STB_WEAK) ||
                (visibility != STV_DEFAULT && visibility != STV_PROTECTED) ||
                memchr(text + symbol->st_name, '\0', strings->sh_size - symbol->st_name) == NULL)
                continue;
            const char *name = text + symbol->st_name;
            if (*name == '\0' || strcmp(name, BROKER_PLUGIN_SYMBOL) == 0)
                continue;
            names_append(names, size, name);
            count++;
        }
    }
    return count;
}

/* Logs one WARN line when `path` exports dynamic symbols other than the
 * entry. The plugin is not refused: only broker_plugin_v1 is ever looked up. */
static void registry_warn_exports(const char *path, const char *file)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat info;
    if (fd < 0)
        return;
    if (fstat(fd, &info) == 0 && info.st_size > 0) {
        void *image = mmap(NULL, (size_t)info.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        char names[256] = "";
        size_t count = image == MAP_FAILED
                           ? 0
                           : elf_count_foreign(image, (size_t)info.st_size, names, sizeof names);
        if (count > 0)
            log_write(LOG_WARN, "registry",
                      "plugin %s: warned, not refused: exports %zu dynamic symbol%s besides "
                      "%s (%s); build it with -fvisibility=hidden",
                      file, count, count == 1 ? "" : "s", BROKER_PLUGIN_SYMBOL, names);
        if (image != MAP_FAILED)
            munmap(image, (size_t)info.st_size);
    }
    close(fd);
}

/* ---- ABI checks (stages symbol and abi) ---- */

static bool check_callbacks(const broker_plugin *plugin, registry_verdict *verdict)
{
    struct {
        const char *name;
        bool present;
    } required[] = {
        {"create", plugin->create != NULL},
        {"destroy", plugin->destroy != NULL},
        {"open_session", plugin->open_session != NULL},
        {"close_session", plugin->close_session != NULL},
        {"authenticate", plugin->authenticate != NULL},
        {"get_holdings", plugin->get_holdings != NULL},
        {"place_order", plugin->place_order != NULL},
        {"get_order", plugin->get_order != NULL},
        {"find_order", plugin->find_order != NULL},
        {"errmsg", plugin->errmsg != NULL},
    };
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        if (!required[i].present)
            return verdict_refuse(verdict, "abi", "required callback %s is NULL", required[i].name);
    }
    return true;
}

/* Checks a descriptor; touches no field beyond the size it declares. */
static bool check_descriptor(const broker_plugin *plugin, const char *expected_name,
                             registry_verdict *verdict)
{
    if (plugin->abi_major != BROKER_ABI_MAJOR)
        return verdict_refuse(verdict, "abi", "abi_major is %u; this host supports %d",
                              (unsigned)plugin->abi_major, BROKER_ABI_MAJOR);
    if (plugin->size < BROKER_PLUGIN_V1_0_SIZE)
        return verdict_refuse(verdict, "abi", "descriptor size %u is smaller than the v1.0 size %u",
                              (unsigned)plugin->size, (unsigned)BROKER_PLUGIN_V1_0_SIZE);
    unsigned sized_minor = plugin->abi_minor >= 2 ? 2 : plugin->abi_minor;
    uint32_t minor_size = sized_minor == 2   ? BROKER_PLUGIN_V1_2_SIZE
                          : sized_minor == 1 ? BROKER_PLUGIN_V1_1_SIZE
                                             : BROKER_PLUGIN_V1_0_SIZE;
    if (plugin->size < minor_size)
        return verdict_refuse(verdict, "abi",
                              "descriptor declares ABI 1.%u but its size %u is smaller than the "
                              "v1.%u size %u",
                              (unsigned)plugin->abi_minor, (unsigned)plugin->size, sized_minor,
                              (unsigned)minor_size);
    if (plugin->name == NULL || plugin->name[0] == '\0')
        return verdict_refuse(verdict, "abi", "descriptor has no name");
    if (plugin->version == NULL)
        return verdict_refuse(verdict, "abi", "descriptor has no version");
    if (!check_callbacks(plugin, verdict))
        return false;
    if (expected_name && strcmp(plugin->name, expected_name) != 0)
        return verdict_refuse(verdict, "abi",
                              "descriptor name '%.64s' does not match section [broker.%s]",
                              plugin->name, expected_name);
    return true;
}

/* Writes one progress or result record to the probe pipe (fd < 0: none). */
static void probe_report(int fd, const char *kind, const char *stage, const char *reason)
{
    if (fd < 0)
        return;
    char record[REGISTRY_REASON_MAX + 32];
    int length = snprintf(record, sizeof record, "%s %s %s\n", kind, stage, reason ? reason : "");
    if (length > (int)sizeof record - 1)
        length = (int)sizeof record - 1;
    for (char *p = record + strlen(kind) + strlen(stage) + 2; p < record + length - 1; p++) {
        if (*p == '\n')
            *p = ' ';
    }
    ssize_t written = write(fd, record, (size_t)length);
    (void)written;
}

static void unload_handle(void *handle)
{
    if (handle != NULL && !REGISTRY_KEEP_MAPPED)
        dlclose(handle);
}

/*
 * dlopen()s `path`, finds the entry, calls it and checks the descriptor.
 * Stages are reported to `progress_fd` as they start (used by the probe
 * child). On success returns true with *handle and *plugin set; otherwise
 * fills `verdict` and leaves nothing open.
 */
static bool registry_inspect(const char *path, const char *expected_name, int progress_fd,
                             void **handle, const broker_plugin **plugin, registry_verdict *verdict)
{
    const broker_plugin *descriptor = NULL;
    bool ok = false;
    probe_report(progress_fd, "S", "open", NULL);
    dlerror();
    void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        const char *reason = dlerror();
        return verdict_refuse(verdict, "open", "%s", reason ? reason : "dlopen failed");
    }
    probe_report(progress_fd, "S", "symbol", NULL);
    dlerror();
    void *symbol = dlsym(library, BROKER_PLUGIN_SYMBOL);
    if (symbol == NULL) {
        verdict_refuse(verdict, "symbol", "no symbol %s", BROKER_PLUGIN_SYMBOL);
        goto cleanup;
    }
    broker_plugin_entry_fn entry;
    memcpy(&entry, &symbol, sizeof entry);
    probe_report(progress_fd, "S", "abi", NULL);
    broker_status status = entry(&registry_services, &descriptor);
    if (status != BROKER_OK) {
        verdict_refuse(verdict, "abi", "%s returned %s (%s)", BROKER_PLUGIN_SYMBOL,
                       broker_status_name(status), broker_strerror(status));
        goto cleanup;
    }
    if (descriptor == NULL) {
        verdict_refuse(verdict, "abi", "%s returned no descriptor", BROKER_PLUGIN_SYMBOL);
        goto cleanup;
    }
    ok = check_descriptor(descriptor, expected_name, verdict);
cleanup:
    if (ok) {
        *handle = library;
        *plugin = descriptor;
    } else {
        unload_handle(library);
    }
    return ok;
}

/* ---- the probe child ---- */

static void probe_child(int fd, const char *path, const char *expected_name)
{
    static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
    for (size_t i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++)
        signal(crash_signals[i], SIG_DFL);
    void *handle = NULL;
    const broker_plugin *plugin = NULL;
    registry_verdict verdict = {"open", ""};
    if (registry_inspect(path, expected_name, fd, &handle, &plugin, &verdict))
        probe_report(fd, "K", "ok", NULL);
    else
        probe_report(fd, "R", verdict.stage, verdict.reason);
    _exit(0);
}

/* Reads everything the child writes, until EOF or the deadline. Returns
 * false on timeout. */
static bool probe_collect(int fd, char *buffer, size_t size)
{
    size_t used = 0;
    int64_t deadline = clock_ms(CLOCK_MONOTONIC) + REGISTRY_PROBE_TIMEOUT_MS;
    buffer[0] = '\0';
    for (;;) {
        int64_t left = deadline - clock_ms(CLOCK_MONOTONIC);
        struct pollfd poller = {fd, POLLIN, 0};
        if (left <= 0)
            return false;
        int ready = poll(&poller, 1, (int)left);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            return false;
        char chunk[512];
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return true;
        size_t take = (size_t)n < size - 1 - used ? (size_t)n : size - 1 - used;
        memcpy(buffer + used, chunk, take);
        used += take;
        buffer[used] = '\0';
    }
}

static const char *stage_named(const char *text)
{
    static const char *const stages[] = {"open", "symbol", "abi", "init"};
    for (size_t i = 0; i < sizeof stages / sizeof stages[0]; i++) {
        if (strncmp(text, stages[i], strlen(stages[i])) == 0 && text[strlen(stages[i])] == ' ')
            return stages[i];
    }
    return "open";
}

/* Turns the child's records and exit status into a verdict. */
static bool probe_judge(const char *records, int wait_status, registry_verdict *verdict)
{
    const char *stage = "open";
    for (const char *line = records; *line; line = strchr(line, '\n') + 1) {
        if (strchr(line, '\n') == NULL)
            break;
        if (line[0] == 'K' && WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0)
            return true;
        if (line[0] == 'S')
            stage = stage_named(line + 2);
        if (line[0] == 'R') {
            stage = stage_named(line + 2);
            const char *reason = strchr(line + 2, ' ') + 1;
            return verdict_refuse(verdict, stage, "%.*s", (int)(strchr(line, '\n') - reason),
                                  reason);
        }
    }
    const char *doing = strcmp(stage, "abi") == 0      ? "in " BROKER_PLUGIN_SYMBOL
                        : strcmp(stage, "symbol") == 0 ? "while looking up " BROKER_PLUGIN_SYMBOL
                                                       : "while loading";
    if (WIFSIGNALED(wait_status))
        return verdict_refuse(verdict, stage, "crashed %s (signal %d)", doing,
                              WTERMSIG(wait_status));
    return verdict_refuse(verdict, stage, "exited %s (status %d)", doing,
                          WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1);
}

/*
 * Loads and checks `path` in a forked child first, so that a constructor or
 * entry that crashes, exits or hangs cannot take the host down. Returns true
 * when the child found the plugin acceptable.
 */
static bool registry_probe(const char *path, const char *expected_name, registry_verdict *verdict)
{
    int fds[2];
    char records[2048];
    if (pipe(fds) != 0)
        return verdict_refuse(verdict, "open", "cannot probe: pipe: %s", strerror(errno));
    pid_t child = fork();
    if (child < 0) {
        close(fds[0]);
        close(fds[1]);
        return verdict_refuse(verdict, "open", "cannot probe: fork: %s", strerror(errno));
    }
    if (child == 0) {
        close(fds[0]);
        probe_child(fds[1], path, expected_name);
    }
    close(fds[1]);
    bool finished = probe_collect(fds[0], records, sizeof records);
    close(fds[0]);
    if (!finished)
        kill(child, SIGKILL);
    int wait_status = 0;
    while (waitpid(child, &wait_status, 0) < 0 && errno == EINTR)
        ;
    if (!finished)
        return verdict_refuse(verdict, "open", "did not finish loading within %d ms",
                              REGISTRY_PROBE_TIMEOUT_MS);
    return probe_judge(records, wait_status, verdict);
}

/* ---- settings (stage init) ---- */

/* The index of `key`'s value in the NULL-ended `choices` into *index (left
 * alone when the key is absent); PTX_CONFIG naming file:line and the
 * choices otherwise. */
static ptx_status settings_choice(const config *cfg, const config_section *section, const char *key,
                                  const char *const *choices, unsigned *index, ptx_error *error)
{
    const char *value = config_get(section, key);
    if (value == NULL)
        return PTX_OK;
    for (unsigned i = 0; choices[i] != NULL; i++)
        if (strcmp(value, choices[i]) == 0) {
            *index = i;
            return PTX_OK;
        }
    int line = section->line;
    for (size_t i = 0; i < section->entry_count; i++)
        line = strcmp(section->entries[i].key, key) == 0 ? section->entries[i].line : line;
    return ptx_fail(error, PTX_CONFIG, NULL, "%s:%d: %s must be %s or %s", cfg->path, line, key,
                    choices[0], choices[1]);
}

static ptx_status settings_parse(const config *cfg, const config_section *section,
                                 const broker_plugin *plugin, broker_settings *settings,
                                 ptx_error *error)
{
    struct {
        const char *key;
        unsigned long minimum, maximum;
        unsigned *field;
    } numbers[] = {
        {"max_retries", 0, 100, &settings->max_retries},
        {"retry_base_ms", 0, 600000, &settings->retry_base_ms},
        {"retry_max_ms", 0, 600000, &settings->retry_max_ms},
        {"order_timeout_ms", 1, 86400000, &settings->order_timeout_ms},
        {"poll_interval_ms", 1, 60000, &settings->poll_interval_ms},
        {"rate_limit_per_second", 0, 1000000, &settings->rate_limit_per_second},
        {"rate_limit_per_minute", 0, 60000000, &settings->rate_limit_per_minute},
        {"read_rate_limit_per_second", 0, 1000000, &settings->read_rate_limit_per_second},
        {"read_rate_limit_per_minute", 0, 60000000, &settings->read_rate_limit_per_minute},
        {"max_in_flight", 0, REGISTRY_MAX_IN_FLIGHT, &settings->max_in_flight},
        {"funds_margin_bps", 0, 10000, &settings->funds_margin_bps},
        {"limit_offset_bps", 0, 10000, &settings->limit_offset_bps},
        {"reprice_attempts", 0, REGISTRY_REPRICE_MAX, &settings->reprice_attempts},
    };
    *settings =
        (broker_settings){.mode = "simulated",
                          .max_retries = 3,
                          .retry_base_ms = 100,
                          .retry_max_ms = 5000,
                          .order_timeout_ms = 30000,
                          .poll_interval_ms = 50,
                          .funds_margin_bps = REGISTRY_FUNDS_MARGIN_BPS,
                          .limit_offset_bps = REGISTRY_LIMIT_OFFSET_BPS,
                          .reprice_attempts = REGISTRY_REPRICE_ATTEMPTS,
                          .rate_limit_per_second = plugin->capabilities.rate_limit_per_second};
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        unsigned long value = *numbers[i].field;
        ptx_status status = config_get_uint(cfg, section, numbers[i].key, numbers[i].minimum,
                                            numbers[i].maximum, &value, error);
        if (status != PTX_OK)
            return status;
        *numbers[i].field = (unsigned)value;
        if (numbers[i].field == &settings->rate_limit_per_second) /* reads default to it */
            settings->read_rate_limit_per_second = settings->rate_limit_per_second;
    }
    static const char *const on_short[] = {"scale", "reject", NULL};
    static const char *const policies[] = {"largest_first", "pro_rata", NULL};
    unsigned choice = 0;
    ptx_status chosen =
        settings_choice(cfg, section, "on_insufficient_funds", on_short, &choice, error);
    if (chosen != PTX_OK)
        return chosen;
    settings->reject_unaffordable = choice == 1;
    choice = 0;
    chosen = settings_choice(cfg, section, "funds_policy", policies, &choice, error);
    if (chosen != PTX_OK)
        return chosen;
    settings->funds_pro_rata = choice == 1;
    static const char *const order_types[] = {"market", "limit", NULL};
    choice = 0;
    chosen = settings_choice(cfg, section, "order_type", order_types, &choice, error);
    if (chosen != PTX_OK)
        return chosen;
    settings->limit_orders = choice == 1;
    const char *mode = config_get(section, "mode");
    if (mode != NULL && strcmp(mode, "simulated") != 0 && strcmp(mode, "live") != 0) {
        int line = section->line;
        for (size_t i = 0; i < section->entry_count; i++)
            line = strcmp(section->entries[i].key, "mode") == 0 ? section->entries[i].line : line;
        return ptx_fail(error, PTX_CONFIG, NULL, "%s:%d: mode must be simulated or live", cfg->path,
                        line);
    }
    if (mode != NULL)
        snprintf(settings->mode, sizeof settings->mode, "%s", mode);
    return PTX_OK;
}

/*
 * The limits the plugin declares (ABI 1.2 get_rate_limits) become the
 * defaults of the four rate keys: a key set in the section keeps its value.
 * Without the callback, or when it fails (one WARN line), settings_parse's
 * 1.1 defaults stay. Main thread, after create.
 */
static void settings_declared(registry_broker *broker, const config_section *section)
{
    if (!broker->features.get_rate_limits)
        return;
    broker_rate_limits limits;
    memset(&limits, 0, sizeof limits);
    limits.size = sizeof limits;
    broker_status status = broker->view.get_rate_limits(broker->instance, &limits);
    if (status != BROKER_OK) {
        log_write(LOG_WARN, "registry",
                  "broker %s: get_rate_limits returned %s; pacing at the capability's rate",
                  broker->host.name, broker_status_name(status));
        return;
    }
    broker_settings *settings = &broker->settings;
    struct {
        const char *key;
        unsigned *field;
        uint32_t declared;
    } rates[] = {
        {"rate_limit_per_second", &settings->rate_limit_per_second, limits.orders_per_second},
        {"rate_limit_per_minute", &settings->rate_limit_per_minute, limits.orders_per_minute},
        {"read_rate_limit_per_second", &settings->read_rate_limit_per_second,
         limits.reads_per_second},
        {"read_rate_limit_per_minute", &settings->read_rate_limit_per_minute,
         limits.reads_per_minute},
    };
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++)
        if (config_get(section, rates[i].key) == NULL)
            *rates[i].field = rates[i].declared;
    log_write(LOG_DEBUG, "registry",
              "broker %s: paced at orders %u/s %u/min, reads %u/s %u/min (0: not paced)",
              broker->host.name, settings->rate_limit_per_second, settings->rate_limit_per_minute,
              settings->read_rate_limit_per_second, settings->read_rate_limit_per_minute);
}

/* ---- one broker ---- */

static bool section_copy(config_section *copy, const config_section *section)
{
    memset(copy, 0, sizeof *copy);
    copy->line = section->line;
    copy->name = strdup(section->name);
    copy->entries = calloc(section->entry_count + 1, sizeof *copy->entries);
    if (copy->name == NULL || copy->entries == NULL)
        return false;
    for (size_t i = 0; i < section->entry_count; i++) {
        config_entry *entry = &copy->entries[copy->entry_count];
        entry->key = strdup(section->entries[i].key);
        entry->value = strdup(section->entries[i].value);
        entry->line = section->entries[i].line;
        copy->entry_count++;
        if (entry->key == NULL || entry->value == NULL)
            return false;
    }
    return true;
}

static void section_release(config_section *section)
{
    for (size_t i = 0; i < section->entry_count; i++) {
        free(section->entries[i].key);
        free(section->entries[i].value);
    }
    free(section->entries);
    free(section->name);
}

static void broker_release(registry_broker *broker)
{
    if (broker == NULL)
        return;
    if (broker->instance != NULL)
        broker->plugin->destroy(broker->instance);
    unload_handle(broker->handle);
    section_release(&broker->host.section);
    pthread_mutex_destroy(&broker->host.random_lock);
    pthread_mutex_destroy(&broker->call_lock);
    free(broker->file);
    free(broker);
}

static registry_broker *broker_new(const config_section *section, const char *file)
{
    registry_broker *broker = calloc(1, sizeof *broker);
    if (broker == NULL)
        return NULL;
    pthread_mutex_init(&broker->host.random_lock, NULL);
    pthread_mutex_init(&broker->call_lock, NULL);
    broker->file = strdup(file);
    if (broker->file == NULL || !section_copy(&broker->host.section, section)) {
        broker_release(broker);
        return NULL;
    }
    broker->host.name = broker->host.section.name;
    return broker;
}

static char *path_join(const char *directory, const char *file)
{
    size_t size = strlen(directory) + strlen(file) + 2;
    char *path = malloc(size);
    if (path != NULL)
        snprintf(path, size, "%s/%s", *directory ? directory : ".", file);
    return path;
}

/* True when the descriptor is at least as large as the end of `field`. */
#define PLUGIN_HAS(plugin, field)                                                                  \
    ((plugin)->size >= offsetof(broker_plugin, field) + sizeof(void *) && (plugin)->field != NULL)

/* Copies the descriptor, zero beyond its size, and notes what it offers.
 * Taken after create, which may still adjust its own descriptor. */
static void broker_take_view(registry_broker *broker)
{
    const broker_plugin *plugin = broker->plugin;
    size_t size = plugin->size < sizeof broker->view ? plugin->size : sizeof broker->view;
    memset(&broker->view, 0, sizeof broker->view);
    memcpy(&broker->view, plugin, size);
    registry_features *features = &broker->features;
    features->abi_minor = plugin->abi_minor;
    features->place_order_ex = PLUGIN_HAS(plugin, place_order_ex);
    features->get_order_ex = PLUGIN_HAS(plugin, get_order_ex);
    features->get_positions = PLUGIN_HAS(plugin, get_positions);
    features->get_open_orders = PLUGIN_HAS(plugin, get_open_orders);
    features->get_funds = PLUGIN_HAS(plugin, get_funds);
    features->get_instrument = PLUGIN_HAS(plugin, get_instrument);
    features->get_market_session = PLUGIN_HAS(plugin, get_market_session);
    features->retry_after_ms = PLUGIN_HAS(plugin, retry_after_ms);
    features->get_rate_limits = PLUGIN_HAS(plugin, get_rate_limits);
    features->parallel_session_calls =
        (plugin->capabilities.flags & BROKER_CAP_PARALLEL_SESSION_CALLS) != 0;
}

/* Settings, unknown-key warnings, seed and create(): stage init. */
static bool broker_init(registry_broker *broker, const config *cfg, const config_section *section,
                        registry_verdict *verdict)
{
    ptx_error error;
    ptx_error_clear(&error);
    unsigned long seed = 1;
    if (settings_parse(cfg, section, broker->plugin, &broker->settings, &error) != PTX_OK ||
        config_get_uint(cfg, section, "seed", 0, ULONG_MAX, &seed, &error) != PTX_OK)
        return verdict_refuse(verdict, "init", "%s", error.message);
    config_warn_unknown(cfg, section, "broker", registry_host_keys, broker->plugin->config_keys);
    host_seed_random(&broker->host, seed);
    broker->serialize = !(broker->plugin->capabilities.flags &
                          (BROKER_CAP_CONCURRENT_SESSIONS | BROKER_CAP_PARALLEL_SESSION_CALLS));

    broker_text text;
    memset(&text, 0, sizeof text);
    broker_instance *instance = NULL;
    broker_status status =
        broker->plugin->create(&registry_services, &broker->host, &instance, &text);
    text.text[sizeof text.text - 1] = '\0';
    if (status != BROKER_OK) {
        if (instance != NULL)
            broker->plugin->destroy(instance);
        return verdict_refuse(verdict, "init", "create returned %s: %s", broker_status_name(status),
                              text.text[0] ? text.text : broker_strerror(status));
    }
    if (instance == NULL)
        return verdict_refuse(verdict, "init", "create returned no instance");
    broker->instance = instance;
    broker_take_view(broker);
    settings_declared(broker, section);
    return true;
}

/* Runs every stage for one [broker.NAME]. Returns the loaded broker, or
 * NULL with `verdict` filled (or with verdict->stage NULL when out of
 * memory). */
static registry_broker *broker_load(const config *cfg, const config_section *section,
                                    const char *file, registry_verdict *verdict)
{
    registry_broker *broker = NULL;
    char *path = NULL;
    bool ok = false;
    if (!check_file_name(file, verdict) || (path = registry_locate(cfg, file, verdict)) == NULL)
        goto cleanup;
    broker = broker_new(section, file);
    if (broker == NULL) {
        verdict->stage = NULL;
        goto cleanup;
    }
    registry_warn_exports(path, file);
    if (!registry_probe(path, section->name, verdict))
        goto cleanup;
    if (!registry_inspect(path, section->name, -1, &broker->handle, &broker->plugin, verdict))
        goto cleanup;
    ok = broker_init(broker, cfg, section, verdict);
cleanup:
    free(path);
    if (!ok) {
        broker_release(broker);
        broker = NULL;
    }
    return broker;
}

/* ---- the registry ---- */

static ptx_status registry_add_refusal(registry *reg, const char *name, const char *file,
                                       const registry_verdict *verdict, ptx_error *error)
{
    char message[REGISTRY_REASON_MAX + 128];
    snprintf(message, sizeof message, "plugin %s: refused at %s: %s", file, verdict->stage,
             verdict->reason);
    log_write(LOG_ERROR, "registry", "%s", message);
    registry_refusal *grown = realloc(reg->refused, (reg->refused_count + 1) * sizeof *grown);
    if (grown == NULL)
        return ptx_fail(error, PTX_NOMEM, NULL, "out of memory");
    reg->refused = grown;
    registry_refusal *refusal = &grown[reg->refused_count];
    refusal->name = strdup(name);
    refusal->message = strdup(message);
    reg->refused_count++;
    if (refusal->name == NULL || refusal->message == NULL)
        return ptx_fail(error, PTX_NOMEM, NULL, "out of memory");
    return PTX_OK;
}

static ptx_status registry_add_loaded(registry *reg, registry_broker *broker, ptx_error *error)
{
    registry_broker **grown = realloc(reg->loaded, (reg->loaded_count + 1) * sizeof *grown);
    if (grown == NULL) {
        broker_release(broker);
        return ptx_fail(error, PTX_NOMEM, NULL, "out of memory");
    }
    reg->loaded = grown;
    reg->loaded[reg->loaded_count++] = broker;
    return PTX_OK;
}

static ptx_status registry_load_one(registry *reg, const config *cfg, const config_section *section,
                                    ptx_error *error)
{
    registry_verdict verdict = {"open", ""};
    const char *file = config_get(section, "plugin");
    if (file == NULL) {
        verdict_refuse(&verdict, "open", "%s:%d: [broker.%s] has no 'plugin' key", cfg->path,
                       section->line, section->name);
        return registry_add_refusal(reg, section->name, "(unset)", &verdict, error);
    }
    if (registry_find(reg, section->name) != NULL) {
        verdict_refuse(&verdict, "init", "broker %s is already loaded", section->name);
        return registry_add_refusal(reg, section->name, file, &verdict, error);
    }
    registry_broker *broker = broker_load(cfg, section, file, &verdict);
    if (broker != NULL) {
        log_write(LOG_INFO, "registry", "loaded %s %s from %s", broker->plugin->name,
                  broker->plugin->version, file);
        return registry_add_loaded(reg, broker, error);
    }
    if (verdict.stage == NULL)
        return ptx_fail(error, PTX_NOMEM, NULL, "out of memory");
    return registry_add_refusal(reg, section->name, file, &verdict, error);
}

ptx_status registry_load(const config *cfg, registry **out, ptx_error *error)
{
    ptx_status status = PTX_OK;
    registry *reg = calloc(1, sizeof *reg);
    *out = NULL;
    if (reg == NULL)
        return ptx_fail(error, PTX_NOMEM, NULL, "out of memory");
    for (size_t i = 0; i < cfg->broker_count && status == PTX_OK; i++)
        status = registry_load_one(reg, cfg, &cfg->brokers[i], error);
    if (status != PTX_OK) {
        registry_free(reg);
        return status;
    }
    *out = reg;
    return PTX_OK;
}

void registry_free(registry *reg)
{
    if (reg == NULL)
        return;
    for (size_t i = 0; i < reg->loaded_count; i++)
        broker_release(reg->loaded[i]);
    for (size_t i = 0; i < reg->refused_count; i++) {
        free(reg->refused[i].name);
        free(reg->refused[i].message);
    }
    free(reg->loaded);
    free(reg->refused);
    free(reg);
}

registry_broker *registry_find(registry *reg, const char *name)
{
    for (size_t i = 0; reg && name && i < reg->loaded_count; i++) {
        if (strcmp(reg->loaded[i]->host.name, name) == 0)
            return reg->loaded[i];
    }
    return NULL;
}

size_t registry_count(const registry *reg)
{
    return reg ? reg->loaded_count : 0;
}

registry_broker *registry_at(registry *reg, size_t index)
{
    return reg && index < reg->loaded_count ? reg->loaded[index] : NULL;
}

size_t registry_refused_count(const registry *reg)
{
    return reg ? reg->refused_count : 0;
}

const char *registry_refused_name(const registry *reg, size_t index)
{
    return reg && index < reg->refused_count ? reg->refused[index].name : NULL;
}

const char *registry_refused_message(const registry *reg, size_t index)
{
    return reg && index < reg->refused_count ? reg->refused[index].message : NULL;
}

const char *registry_find_refusal(const registry *reg, const char *name)
{
    const char *message = NULL;
    for (size_t i = 0; reg && name && i < reg->refused_count; i++) {
        if (strcmp(reg->refused[i].name, name) == 0)
            message = reg->refused[i].message;
    }
    return message;
}

const char *registry_broker_name(const registry_broker *broker)
{
    return broker->host.name;
}

const char *registry_broker_file(const registry_broker *broker)
{
    return broker->file;
}

const broker_plugin *registry_broker_plugin(const registry_broker *broker)
{
    return &broker->view;
}

const registry_features *registry_broker_features(const registry_broker *broker)
{
    return &broker->features;
}

broker_instance *registry_broker_instance(const registry_broker *broker)
{
    return broker->instance;
}

const broker_settings *registry_broker_settings(const registry_broker *broker)
{
    return &broker->settings;
}

void registry_broker_enter(registry_broker *broker)
{
    if (broker->serialize)
        pthread_mutex_lock(&broker->call_lock);
}

void registry_broker_leave(registry_broker *broker)
{
    if (broker->serialize)
        pthread_mutex_unlock(&broker->call_lock);
}

ptx_status registry_open_file(const char *path, const broker_plugin **plugin, void **handle,
                              ptx_error *error)
{
    registry_verdict verdict = {"open", ""};
    *plugin = NULL;
    *handle = NULL;
    /* A name without '/' would make dlopen() search the library path. */
    char *local = strchr(path, '/') ? strdup(path) : path_join(".", path);
    if (local == NULL)
        return ptx_fail(error, PTX_NOMEM, NULL, "out of memory");
    bool ok = check_permissions("plugin file", local, false, &verdict) &&
              check_link_target(local, &verdict);
    if (ok)
        registry_warn_exports(local, path);
    ok = ok && registry_probe(local, NULL, &verdict) &&
         registry_inspect(local, NULL, -1, handle, plugin, &verdict);
    free(local);
    if (ok)
        return PTX_OK;
    return ptx_fail(error, PTX_PLUGIN, NULL, "plugin %s: refused at %s: %s", path, verdict.stage,
                    verdict.reason);
}

void registry_unload_file(void *handle)
{
    unload_handle(handle);
}
