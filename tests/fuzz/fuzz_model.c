/*
 * fuzz_model.c - libFuzzer target for the syscall model parsers
 * (format/model.c, model_learn.c; SPEC.md section 16).
 *
 * The first byte chooses: even, the rest is a model file: parsed, and if
 * accepted, written back and parsed again, which must give the same text
 * (the writer's output is always a model the parser takes); odd, the rest
 * is an strace log learned into a model of depth 1 + byte / 2 % 3, whose
 * text must parse too.  Any crash, sanitizer report, leak or failed
 * assertion is a bug; refusals are expected.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emt_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(const struct emt_model *m)
{
	char *text = NULL, *again = NULL, err[512];
	struct emt_model *back;

	if (emt_model_json(m, &text))
		return;         /* out of memory */
	back = emt_model_parse(text, strlen(text), err, sizeof(err));
	assert(back);
	assert(emt_model_json(back, &again) == 0);
	assert(strcmp(text, again) == 0);
	for (size_t i = 0; i < emt_model_nprograms(back); i++) {
		const struct emt_model_prog *p = emt_model_program(back, i);
		const char *n[EMT_MODEL_DEPTH_MAX];

		assert(p && p->path && strlen(p->sha256) == 64);
		for (size_t t = 0; t < p->ntrans; t++)
			assert(emt_model_transition(back, i, t, n) == 0 && n[0]);
	}
	free(text);
	free(again);
	emt_model_free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];

	if (size < 1)
		return 0;
	if (!(data[0] & 1)) {
		struct emt_model *m = emt_model_parse((const char *)data + 1, size - 1, err, sizeof(err));

		if (m)
			round_trip(m);
		emt_model_free(m);
		return 0;
	}
	struct emt_model *m = emt_model_new(1 + (data[0] >> 1) % 3);
	struct emt_model_learn_stats st = { 0 };

	if (!m)
		return 0;
	if (emt_model_learn_strace(m, (const char *)data + 1, size - 1, "fuzz", &st, err,
				   sizeof(err)) == 0)
		round_trip(m);
	emt_model_free(m);
	return 0;
}
