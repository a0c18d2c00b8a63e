// See id_table.h.

#include "id_table.h"

#include <stdlib.h>

void id_table_init(id_table_t* table) {
  table->items = NULL;
  table->free_next = NULL;
  table->free = -1;
  table->capacity = 0;
}

int32_t id_table_add(id_table_t* table, void* item) {
  if (table->free < 0) {
    // Full: double it, and chain the new ids, lowest first.
    int32_t capacity = table->capacity == 0 ? 256 : table->capacity * 2;
    void** items = realloc(table->items, sizeof(*items) * capacity);
    if (items == NULL) return -1;
    table->items = items;
    int32_t* next = realloc(table->free_next, sizeof(*next) * capacity);
    if (next == NULL) return -1;
    table->free_next = next;
    for (int32_t i = capacity - 1; i >= table->capacity; i--) {
      items[i] = NULL;
      next[i] = table->free;
      table->free = i;
    }
    table->capacity = capacity;
  }
  int32_t id = table->free;
  table->free = table->free_next[id];
  table->items[id] = item;
  return id;
}

void* id_table_get(const id_table_t* table, int32_t id) {
  return id >= 0 && id < table->capacity ? table->items[id] : NULL;
}

void id_table_remove(id_table_t* table, int32_t id) {
  table->items[id] = NULL;
  table->free_next[id] = table->free;
  table->free = id;
}

void id_table_release(id_table_t* table) {
  free(table->items);
  free(table->free_next);
  id_table_init(table);
}
