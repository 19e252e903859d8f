/* Links the installed libspinfer and checks that the header and library agree. */
#include <spinfer.h>
#include <stdio.h>

int main(void) {
  spinfer_context_t* ctx = NULL;
  if (spinfer_version_number() !=
      SPINFER_VERSION_MAJOR * 10000u + SPINFER_VERSION_MINOR * 100u + SPINFER_VERSION_PATCH) {
    puts("installed header and library disagree on the version");
    return 1;
  }
  if (spinfer_context_create(&ctx, SPINFER_BACKEND_HOST) != SPINFER_STATUS_SUCCESS) {
    printf("context: %s\n", spinfer_last_error_message());
    return 1;
  }
  spinfer_context_destroy(ctx);
  printf("installed spinfer %s works\n", spinfer_version());
  return 0;
}
