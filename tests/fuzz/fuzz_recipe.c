/* libFuzzer harness for the recipe reader (eg_recipe_load,
 * src/recipe/recipe.c) through a real file. Any bytes give a recipe with a
 * model line and 1 to EG_RECIPE_MAX_STAGES stages whose hyperparameters are
 * in their documented ranges, or an error that starts with the file's name. */
#include "fuzz_file.h"

#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(0, data, size);
    static eg_recipe r;
    eg_error err = {0};
    if (eg_recipe_load(&r, path, &err)) {
        if (strncmp(err.msg, path, strlen(path))) {
            fprintf(stderr, "the message does not start with the file: %s\n", err.msg);
            abort();
        }
        return 0;
    }
    if (!r.model[0] || r.nstages < 1 || r.nstages > EG_RECIPE_MAX_STAGES) abort();
    for (int i = 0; i < r.nstages; i++) {
        const eg_stage *s = &r.stages[i];
        if (s->kind > EG_STAGE_EVAL || s->line < 1) abort();
        if (s->kind == EG_STAGE_TRAIN &&
            !(s->lr > 0 && s->lr <= 10 && s->momentum >= 0 && s->momentum < 1 && s->weight_decay >= 0 &&
              s->weight_decay < 1 && s->epochs >= 0 && s->epochs <= 10000 && s->batch >= 1 && s->batch <= 65536))
            abort();
    }
    return 0;
}
