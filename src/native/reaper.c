// The reaper helper in C: the same protocol and behaviour as
// src/launchers/reaper-process.ts (the fallback where this program was not
// built), in ≈1 MB instead of a Node process's ≈43 MB. One per supervisor; it
// outlives the master only to clean up after it.
//
// The master writes lines on our stdin as it starts and reaps workers:
//   +<pgid> / -<pgid>   a spawn worker's process group
//   +p<pid> / -p<pid>   a cluster worker (it shares the master's group)
//   t<prefix>           the tag prefix ("<master pid>.") every worker and its
//                       descendants carry in SUPERVISE_INSTANCE (lineage.ts)
//   q                   a normal shutdown: every worker is gone, exit now
// When stdin ends (the master exited, even by SIGKILL: the kernel closes its end
// of the pipe), every known group and pid and every live process carrying the
// tag (a daemon that left its group) gets SIGTERM, then SIGKILL after a grace
// period (SUPERVISE_REAPER_GRACE_MS, 2000 by default).
//
// Built by node-gyp as the `supervise_reaper` executable (binding.gyp); plain
// POSIX and Linux /proc, no Node.

#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_GRACE_MS 2000
/** The longest line the master writes is "+p" and a pid; anything longer is not ours and is skipped. */
#define LINE_MAX_LENGTH 64
#define TAG_MAX_LENGTH 32
#define TAG_VARIABLE "SUPERVISE_INSTANCE="
/** An environment larger than this is not read past it (the kernel caps it near ARG_MAX anyway). */
#define ENVIRON_MAX (4 << 20)

/** A set of ids: a plain array (a thousand entries at most in practice; every operation is a scan). */
typedef struct {
  int* ids;
  size_t count;
  size_t capacity;
} id_set_t;

static id_set_t groups;
static id_set_t pids;
static char tag[TAG_MAX_LENGTH + 1];

static bool set_has(const id_set_t* set, int id) {
  for (size_t i = 0; i < set->count; i++)
    if (set->ids[i] == id) return true;
  return false;
}

/** False when out of memory: the id is not kept (the master's other safeguards still cover it). */
static bool set_add(id_set_t* set, int id) {
  if (set_has(set, id)) return true;
  if (set->count == set->capacity) {
    size_t capacity = set->capacity == 0 ? 64 : set->capacity * 2;
    int* grown = realloc(set->ids, capacity * sizeof(int));
    if (grown == NULL) return false;
    set->ids = grown;
    set->capacity = capacity;
  }
  set->ids[set->count++] = id;
  return true;
}

static void set_remove_at(id_set_t* set, size_t i) {
  set->ids[i] = set->ids[--set->count];
}

static void set_remove(id_set_t* set, int id) {
  for (size_t i = 0; i < set->count; i++) {
    if (set->ids[i] == id) {
      set_remove_at(set, i);
      return;
    }
  }
}

/** A positive decimal id > 1 (never 0, 1 or a negative: kill() would reach far too much); 0 when it is not one. */
static int parse_id(const char* text) {
  if (*text == '\0') return 0;
  long value = 0;
  for (const char* c = text; *c != '\0'; c++) {
    if (!isdigit((unsigned char)*c)) return 0;
    value = value * 10 + (*c - '0');
    if (value > 0x7fffffff) return 0;
  }
  return value > 1 ? (int)value : 0;
}

/** One line from the master; true when it said "q". */
static bool apply(const char* line) {
  if (strcmp(line, "q") == 0) return true;
  if (line[0] == 't') {
    const char* prefix = line + 1;
    size_t length = strlen(prefix);
    if (length < 2 || length > TAG_MAX_LENGTH || prefix[length - 1] != '.') return false;
    for (size_t i = 0; i + 1 < length; i++)
      if (!isdigit((unsigned char)prefix[i])) return false;
    memcpy(tag, prefix, length + 1);
    return false;
  }
  if (line[0] != '+' && line[0] != '-') return false;
  bool is_pid = line[1] == 'p';
  int id = parse_id(line + (is_pid ? 2 : 1));
  if (id == 0) return false;
  id_set_t* set = is_pid ? &pids : &groups;
  if (line[0] == '+')
    set_add(set, id);
  else
    set_remove(set, id);
  return false;
}

/** Reads a whole small /proc file into `*buffer` (grown as needed, NUL-terminated); its length, or -1. */
static ssize_t read_file(const char* path, char** buffer, size_t* capacity) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t length = 0;
  for (;;) {
    if (length + 1 >= *capacity) {
      if (*capacity >= ENVIRON_MAX) break;
      size_t grown_capacity = *capacity == 0 ? 4096 : *capacity * 2;
      char* grown = realloc(*buffer, grown_capacity);
      if (grown == NULL) break;
      *buffer = grown;
      *capacity = grown_capacity;
    }
    ssize_t got = read(fd, *buffer + length, *capacity - length - 1);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      close(fd);
      return -1;
    }
    if (got == 0) break;
    length += (size_t)got;
  }
  close(fd);
  if (*buffer == NULL) return -1;
  (*buffer)[length] = '\0';
  return (ssize_t)length;
}

static bool is_zombie(int pid, char** buffer, size_t* capacity) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  if (read_file(path, buffer, capacity) < 0) return true; // gone: nothing to signal
  // "pid (comm) state …": comm may hold spaces and parentheses.
  const char* close_paren = strrchr(*buffer, ')');
  return close_paren == NULL || close_paren[1] == '\0' || close_paren[2] == 'Z';
}

/** Whether an environment (entries separated by NULs) has SUPERVISE_INSTANCE=<tag…> as one of its entries. */
static bool environ_carries_tag(const char* environ, size_t length) {
  size_t tag_length = strlen(tag);
  size_t variable_length = strlen(TAG_VARIABLE);
  for (size_t start = 0; start < length;) {
    const char* entry = environ + start;
    size_t entry_length = strnlen(entry, length - start);
    if (entry_length >= variable_length + tag_length && memcmp(entry, TAG_VARIABLE, variable_length) == 0 &&
        memcmp(entry + variable_length, tag, tag_length) == 0)
      return true;
    start += entry_length + 1;
  }
  return false;
}

/** Every live process (not a zombie, not us) whose environment carries the tag prefix gets `signal`. */
static void signal_tagged(int signal) {
  if (tag[0] == '\0') return;
  DIR* proc = opendir("/proc");
  if (proc == NULL) return;
  char* buffer = NULL;
  size_t capacity = 0;
  pid_t self = getpid();
  struct dirent* entry;
  while ((entry = readdir(proc)) != NULL) {
    int pid = parse_id(entry->d_name);
    if (pid == 0 || pid == self) continue;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/environ", pid);
    ssize_t length = read_file(path, &buffer, &capacity);
    if (length <= 0 || !environ_carries_tag(buffer, (size_t)length)) continue;
    if (is_zombie(pid, &buffer, &capacity)) continue;
    kill(pid, signal);
  }
  free(buffer);
  closedir(proc);
}

static void signal_all(int signal) {
  for (size_t i = 0; i < groups.count;) {
    if (kill(-groups.ids[i], signal) != 0 && errno == ESRCH)
      set_remove_at(&groups, i); // already gone
    else
      i++;
  }
  for (size_t i = 0; i < pids.count;) {
    if (kill(pids.ids[i], signal) != 0 && errno == ESRCH)
      set_remove_at(&pids, i);
    else
      i++;
  }
  signal_tagged(signal);
}

static long grace_ms(void) {
  const char* text = getenv("SUPERVISE_REAPER_GRACE_MS");
  if (text == NULL || *text == '\0') return DEFAULT_GRACE_MS;
  char* end;
  errno = 0;
  long value = strtol(text, &end, 10);
  if (errno != 0 || *end != '\0' || value < 0 || value > 3600000) return DEFAULT_GRACE_MS;
  return value;
}

static void sleep_ms(long ms) {
  struct timespec left = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&left, &left) != 0 && errno == EINTR) {
  }
}

static void release(void) {
  free(groups.ids);
  free(pids.ids);
}

int main(void) {
  // The master handles terminal signals; the reaper is in its own group anyway.
  signal(SIGINT, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);

  char chunk[4096];
  char line[LINE_MAX_LENGTH + 1];
  size_t line_length = 0;
  bool overlong = false;
  for (;;) {
    ssize_t got = read(STDIN_FILENO, chunk, sizeof(chunk));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break; // end of stdin (or an unreadable pipe, which means the same): the master is gone
    for (ssize_t i = 0; i < got; i++) {
      char c = chunk[i];
      if (c != '\n') {
        if (line_length < LINE_MAX_LENGTH)
          line[line_length++] = c;
        else
          overlong = true;
        continue;
      }
      line[line_length] = '\0';
      bool quit = !overlong && apply(line);
      line_length = 0;
      overlong = false;
      if (quit) {
        release();
        return 0;
      }
    }
  }

  if (groups.count > 0 || pids.count > 0 || tag[0] != '\0') {
    signal_all(SIGTERM);
    sleep_ms(grace_ms());
    signal_all(SIGKILL);
  }
  release();
  return 0;
}
