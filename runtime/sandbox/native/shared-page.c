/*
 * mapFile(path, bytes): the file, grown to `bytes` (blocks allocated), mapped MAP_SHARED into an ArrayBuffer. Stores into
 * it go straight to the page cache, so another process that reads the file sees them, also after the
 * writer died (SIGABRT, SIGKILL). The sandbox host's black box uses it to record, without a system
 * call, which agent is about to run (black-box.ts). POSIX only; the mapping is unmapped when the
 * ArrayBuffer is collected.
 */
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void unmap(napi_env env, void* data, void* hint) {
  (void)env;
  munmap(data, (size_t)(uintptr_t)hint);
}

static napi_value fail(napi_env env, const char* what, int error) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", what, strerror(error));
  napi_throw_error(env, NULL, message);
  return NULL;
}

static napi_value map_file(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc < 2) {
    napi_throw_type_error(env, NULL, "mapFile(path, bytes)");
    return NULL;
  }
  char path[4096];
  size_t length = 0;
  uint32_t bytes = 0;
  if (napi_get_value_string_utf8(env, args[0], path, sizeof path, &length) != napi_ok || length == 0 || length >= sizeof path - 1) {
    napi_throw_type_error(env, NULL, "mapFile: path must be a non-empty string");
    return NULL;
  }
  if (napi_get_value_uint32(env, args[1], &bytes) != napi_ok || bytes == 0) {
    napi_throw_type_error(env, NULL, "mapFile: bytes must be a positive integer");
    return NULL;
  }
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return fail(env, "mapFile: open", errno);
  // Blocks allocated now: a store into a hole of a full disk would be a SIGBUS later, not an error here.
  int allocated = posix_fallocate(fd, 0, (off_t)bytes);
  if (allocated != 0) {
    close(fd);
    return fail(env, "mapFile: posix_fallocate", allocated);
  }
  void* memory = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int error = errno;
  close(fd);
  if (memory == MAP_FAILED) return fail(env, "mapFile: mmap", error);
  napi_value buffer;
  if (napi_create_external_arraybuffer(env, memory, bytes, unmap, (void*)(uintptr_t)bytes, &buffer) != napi_ok) {
    munmap(memory, bytes);
    napi_throw_error(env, NULL, "mapFile: cannot wrap the mapping in an ArrayBuffer");
    return NULL;
  }
  return buffer;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "mapFile", NAPI_AUTO_LENGTH, map_file, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "mapFile", fn) != napi_ok) return NULL;
  return exports;
}
