/*
 * uvd_bench_probe.node - what the unload benchmark cannot read from JS:
 *
 *   loopCount()      uv_metrics_info(loop).loop_count: libuv increments it once
 *                    per loop iteration, right before the poll phase
 *                    (src/unix/core.c, uv_run). Two events with the same count
 *                    had no poll (no wait for I/O) between them.
 *   recordAddress()  "0x..." address of a static record of REC_SLOTS uint64
 *                    slots; the host passes it to the C bench module in an
 *                    environment variable, the module writes into it (its
 *                    last callback's CLOCK_MONOTONIC time and loop count...).
 *   record()         the record's slots as numbers.
 *   resetRecord()    zeroes the record.
 *
 * process.hrtime() is uv_hrtime(), CLOCK_MONOTONIC as well: the module's
 * times compare directly with the host's.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <node_api.h>
#include <uv.h>

#define REC_SLOTS 16

static volatile uint64_t g_record[REC_SLOTS];

#define CHECK(call)                                                  \
  do {                                                               \
    if ((call) != napi_ok) {                                         \
      napi_throw_error(env, NULL, "uvd_bench_probe: " #call " failed"); \
      return NULL;                                                   \
    }                                                                \
  } while (0)

static napi_value LoopCount(napi_env env, napi_callback_info info) {
  uv_loop_t* loop = NULL;
  uv_metrics_t m;
  napi_value out;
  CHECK(napi_get_uv_event_loop(env, &loop));
  memset(&m, 0, sizeof(m));
  if (uv_metrics_info(loop, &m) != 0) {
    napi_throw_error(env, NULL, "uvd_bench_probe: uv_metrics_info failed");
    return NULL;
  }
  CHECK(napi_create_double(env, (double)m.loop_count, &out));
  return out;
}

static napi_value RecordAddress(napi_env env, napi_callback_info info) {
  char buf[32];
  napi_value out;
  snprintf(buf, sizeof(buf), "0x%" PRIxPTR, (uintptr_t)g_record);
  CHECK(napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &out));
  return out;
}

static napi_value Record(napi_env env, napi_callback_info info) {
  napi_value arr, v;
  CHECK(napi_create_array_with_length(env, REC_SLOTS, &arr));
  for (uint32_t i = 0; i < REC_SLOTS; i++) {
    CHECK(napi_create_double(env, (double)g_record[i], &v));
    CHECK(napi_set_element(env, arr, i, v));
  }
  return arr;
}

static napi_value ResetRecord(napi_env env, napi_callback_info info) {
  for (uint32_t i = 0; i < REC_SLOTS; i++) g_record[i] = 0;
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"loopCount", NULL, LoopCount, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recordAddress", NULL, RecordAddress, NULL, NULL, NULL, napi_enumerable, NULL},
      {"record", NULL, Record, NULL, NULL, NULL, napi_enumerable, NULL},
      {"resetRecord", NULL, ResetRecord, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_value slots;
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok) return NULL;
  if (napi_create_uint32(env, REC_SLOTS, &slots) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "slots", slots) != napi_ok) return NULL;
  return exports;
}
