// Small integer ids for pointers, reused once freed (so ids stay small and can
// index arrays), as the native modules name their connections to epoll and to
// JavaScript. A stale id is told apart by a generation the caller keeps.

#ifndef SUPERVISE_ID_TABLE_H
#define SUPERVISE_ID_TABLE_H

#include <stdint.h>

typedef struct id_table {
  void** items;
  int32_t* free_next;  // free ids, chained
  int32_t free;        // the first free id, -1 if none (a zeroed table: call id_table_init)
  int32_t capacity;
} id_table_t;

void id_table_init(id_table_t* table);

/** A free id for `item`, or -1 when out of memory. */
int32_t id_table_add(id_table_t* table, void* item);

/** The item of `id`, or NULL. */
void* id_table_get(const id_table_t* table, int32_t id);

/** Frees `id` for reuse. */
void id_table_remove(id_table_t* table, int32_t id);

/** Frees the table's memory (not the items). */
void id_table_release(id_table_t* table);

#endif
