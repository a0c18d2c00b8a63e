// A data-plane thread of the native http front: its own epoll set and loop
// (hf_loop_t), nothing of node's. It waits in epoll_wait (the timeout is the
// sweep of the timeouts), handles the ready connections, then the commands the
// main thread queued (Envoy's way: a mutex-guarded list and an eventfd in the
// set; commands are rare, the lock is never taken per request), and wakes the
// main thread when it has records for JavaScript (one uv_async_t for every
// thread: http_threads.c drains all batches at once).
//
// The loop's `lock` is held while a batch of events and commands is handled,
// never while the thread waits: the main thread takes it to drain the batch
// and to read counters, and so sees each batch whole.

#define _GNU_SOURCE  // pthread_setname_np
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "http_internal.h"

#define WAKE_TOKEN UINT64_MAX  // the eventfd's epoll data: no connection has it (ids are below 2^31)

static hf_loop_t* loops[HF_THREADS_MAX];
static uint32_t loop_count;
static void (*wake_main)(void);

hf_loop_t* hf_loop_at(uint32_t index) {
  return index < loop_count ? loops[index] : NULL;
}

uint32_t hf_loop_count(void) {
  return loop_count;
}

/** The share made on this thread joins its loop: its listener in the set, the sweep over it. */
static void add_front(hf_front_t* front) {
  front->next = hf_self->fronts;
  hf_self->fronts = front;
  if (hf_table_add(&front->listen) < 0 || hf_watch(&front->listen, EPOLL_CTL_ADD) != 0) {
    // This thread cannot take its connections: the others do (the front still lives here for its commands).
    if (front->listen.id >= 0 && id_table_get(&hf_self->conns, front->listen.id) == &front->listen) hf_conn_close(&front->listen);
    else close(front->listen.fd);
    front->listen.fd = -1;
  }
  hf_schedule_timer();
}

static void run(hf_command_t* command) {
  hf_front_t* front = command->share;
  switch (command->type) {
    case HF_C_ADD_FRONT:
      add_front(front);
      break;
    case HF_C_PUBLISH:
      hf_share_publish(front, command->snap);
      break;
    case HF_C_ADD_BACKEND:
      hf_share_add_backend(front, command->slot, (const struct sockaddr*)&command->address, command->length);
      break;
    case HF_C_REMOVE_BACKEND:
      hf_share_remove_backend(front, command->slot);
      break;
    case HF_C_CLOSE:
      hf_share_close(front);
      break;
    case HF_C_DESTROY: {
      hf_listener_t* listener = front->listener;
      hf_share_free(front);
      hf_destroy_acked(listener);  // the last thread's ack lets the main thread free what was shared
      break;
    }
    case HF_C_ADOPT:
      hf_adopt(front, command->fd, &command->address);
      break;
    case HF_C_STOP:
      while (hf_self->fronts != NULL) hf_share_free(hf_self->fronts);
      hf_self->stopping = true;
      break;
  }
  free(command);
}

/** The commands queued so far, in order. */
static void run_commands(void) {
  uint64_t count;
  while (read(hf_self->wake_fd, &count, sizeof(count)) < 0 && errno == EINTR) {
  }
  pthread_mutex_lock(&hf_self->queue_lock);
  hf_command_t* command = hf_self->queue_head;
  hf_self->queue_head = hf_self->queue_tail = NULL;
  pthread_mutex_unlock(&hf_self->queue_lock);
  while (command != NULL) {
    hf_command_t* next = command->next;
    run(command);
    command = next;
  }
}

static void* thread_main(void* arg) {
  hf_loop_t* loop = arg;
  hf_self = loop;
  char name[16];
  snprintf(name, sizeof(name), "supervise-dp%d", loop->index);
  pthread_setname_np(pthread_self(), name);
  struct epoll_event ready[MAX_EVENTS];
  while (!loop->stopping) {
    uint64_t now = hf_now_ms();
    int timeout = loop->fronts == NULL ? -1 : loop->next_sweep > now ? (int)(loop->next_sweep - now) : 0;
    int count = epoll_wait(loop->epoll, ready, MAX_EVENTS, timeout);
    if (count < 0 && errno != EINTR) break;  // EBADF/EINVAL: a bug, not a state to spin in
    pthread_mutex_lock(&loop->lock);
    // Commands first: a request that came with them is decided from the snapshot the main thread published before it.
    for (int i = 0; i < count; i++) {
      if (ready[i].data.u64 == WAKE_TOKEN) run_commands();
    }
    for (int i = 0; i < count; i++) {
      if (ready[i].data.u64 != WAKE_TOKEN) hf_on_event(ready[i].data.u64, ready[i].events);  // a connection freed by a command is stale: dropped
    }
    now = hf_now_ms();
    if (loop->fronts != NULL && now >= loop->next_sweep) {
      hf_sweep();
      loop->next_sweep = now + loop->period_ms;
    }
    bool wake = loop->event_count > 0;
    pthread_mutex_unlock(&loop->lock);
    if (wake) wake_main();
  }
  return NULL;
}

static void loop_free(hf_loop_t* loop) {
  if (loop->epoll >= 0) close(loop->epoll);
  if (loop->wake_fd >= 0) close(loop->wake_fd);
  pthread_mutex_destroy(&loop->lock);
  pthread_mutex_destroy(&loop->queue_lock);
  id_table_release(&loop->conns);
  free(loop->events);
  free(loop);
}

static int loop_start(uint32_t index) {
  hf_loop_t* loop = calloc(1, sizeof(*loop));
  if (loop == NULL) return ENOMEM;
  loop->index = (int)index;
  loop->wake_fd = -1;
  id_table_init(&loop->conns);
  pthread_mutex_init(&loop->lock, NULL);
  pthread_mutex_init(&loop->queue_lock, NULL);
  loop->epoll = epoll_create1(EPOLL_CLOEXEC);
  loop->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  struct epoll_event event = {.events = EPOLLIN, .data.u64 = WAKE_TOKEN};
  if (loop->epoll < 0 || loop->wake_fd < 0 || epoll_ctl(loop->epoll, EPOLL_CTL_ADD, loop->wake_fd, &event) != 0) {
    int error = errno;
    loop_free(loop);
    return error;
  }
  // Signals are the main thread's (node's handlers): none is delivered to a data-plane thread.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  int error = pthread_create(&loop->thread, NULL, thread_main, loop);
  pthread_sigmask(SIG_SETMASK, &previous, NULL);
  if (error != 0) {
    loop_free(loop);
    return error;
  }
  loops[index] = loop;
  return 0;
}

int hf_loops_start(uint32_t count, void (*wake)(void)) {
  wake_main = wake;
  if (count > HF_THREADS_MAX) return EINVAL;
  while (loop_count < count) {
    int error = loop_start(loop_count);
    if (error != 0) return error;
    loop_count++;
  }
  return 0;
}

void hf_post(hf_loop_t* loop, hf_command_t* command) {
  command->next = NULL;
  pthread_mutex_lock(&loop->queue_lock);
  if (loop->queue_tail != NULL) loop->queue_tail->next = command;
  else loop->queue_head = command;
  loop->queue_tail = command;
  pthread_mutex_unlock(&loop->queue_lock);
  uint64_t one = 1;
  while (write(loop->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}

void hf_loops_stop(void) {
  for (uint32_t i = 0; i < loop_count; i++) {
    hf_command_t* stop = calloc(1, sizeof(*stop));
    if (stop == NULL) continue;  // out of memory at exit: the thread is left running (the process ends)
    stop->type = HF_C_STOP;
    hf_post(loops[i], stop);
    pthread_join(loops[i]->thread, NULL);
    // Commands queued after the stop (none: the main thread stops posting first) are freed with the loop.
    for (hf_command_t* command = loops[i]->queue_head; command != NULL;) {
      hf_command_t* next = command->next;
      if (command->type == HF_C_PUBLISH) hf_snap_release(command->snap);
      if (command->type == HF_C_ADOPT) close(command->fd);
      free(command);
      command = next;
    }
    loop_free(loops[i]);
    loops[i] = NULL;
  }
  loop_count = 0;
}
