/*
 * archive.c - what the readers print about the contents of an archive,
 * built on the writers of text.c and the formatting of cli.c (so that
 * neither of those needs the other).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "emtcli.h"

int cli_json_capture_fields(struct cli_json *j, struct emt_reader *r,
			    const struct emt_capture *c)
{
	char tbuf[CLI_TIME_BUFSZ], pbuf[4], hex[2 * EMT_SHA256_LEN + 1], trig[24];
	int err = 0;

	cli_json_ku64(j, "seq", c->seq);
	cli_json_ki64(j, "region", c->region_id);
	cli_json_ku64(j, "version", c->version);
	cli_json_ku64(j, "pid", c->pid);
	cli_json_ku64(j, "tid", c->tid);
	cli_json_khex(j, "addr", c->addr);
	cli_json_khex(j, "end", c->addr + c->size);
	cli_json_ku64(j, "size", c->size);
	cli_json_kstr(j, "time",
		      cli_fmt_time(tbuf, emt_reader_wall_ns(r, c->time_ns),
				   CLI_TIME_ISO_NS));
	cli_json_ku64(j, "boottime_ns", c->time_ns);
	cli_json_kstr(j, "trigger", cli_trigger_name(trig, c->trigger));
	cli_json_kstr(j, "prot", cli_fmt_prot(pbuf, c->prot_after));
	cli_json_kstr(j, "prot_before", cli_fmt_prot(pbuf, c->prot_before));
	emt_hex(c->sha256, EMT_SHA256_LEN, hex);
	cli_json_kstr(j, "sha256", hex);
	cli_json_ku64(j, "stored_bytes", c->stored_bytes);

	cli_json_name(j, "gaps");
	cli_json_start_array(j);
	if (c->ngaps) {
		struct emt_gap *gaps = NULL;
		size_t ngaps = 0;
		int rc = emt_reader_gaps(r, c->seq, &gaps, &ngaps);

		if (rc < 0)
			err = rc;
		for (size_t i = 0; rc >= 0 && i < ngaps; i++) {
			const char *why = emt_gap_reason_name(gaps[i].reason);

			cli_json_start_object(j);
			cli_json_khex(j, "addr", c->addr + gaps[i].offset);
			cli_json_ku64(j, "offset", gaps[i].offset);
			cli_json_ku64(j, "length", gaps[i].length);
			cli_json_kstr(j, "reason", why ? why : "unknown");
			cli_json_ki64(j, "errno", gaps[i].err);
			cli_json_end_object(j);
		}
		free(gaps);
	}
	cli_json_end_array(j);

	if (c->has_regs) {
		struct emt_regs_x86_64 regs;
		int rc = emt_reader_regs(r, c->seq, &regs);

		if (rc == 0)
			cli_json_khex(j, "rip", regs.rip);
		else if (rc != -ENOENT && !err)
			err = rc;
	}
	return err;
}
