/*
 * emt-keygen - write an Ed25519 key pair for signed archives
 * (emt-capture --sign-key, emt-verify --key; SPEC.md section 10.2).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "emtcli.h"

static const char usage_text[] =
"Usage: emt-keygen [OPTION]... KEY.pem\n"
"Write a new Ed25519 key pair for signing archives: the private key to\n"
"KEY.pem (PKCS#8 PEM, mode 0600) and the public key beside it, to\n"
"KEY.pub.pem (SubjectPublicKeyInfo PEM), and print the key's fingerprint\n"
"(SHA-256 of the DER public key).  Existing files are never replaced\n"
"unless --force is given.  Keep the private key on the capturing host only;\n"
"hand the public key (or its fingerprint) to whoever verifies.\n"
"\n"
"  -p, --public FILE      write the public key to FILE instead\n"
"  -f, --force            replace existing key files\n"
"  -q, --quiet            print nothing\n"
CLI_COMMON_HELP
"\n"
"Examples:\n"
"  emt-keygen case-key.pem\n"
"  emt-capture --sign-key case-key.pem -o case.emt -- ./app\n"
"  emt-verify --key case-key.pub.pem case.emt\n"
"  openssl pkey -pubin -in case-key.pub.pem -outform DER | sha256sum\n"
"\n"
"Exit status: 0 written, 1 failure (a file exists, cannot write), 2 usage\n"
"error.\n";

/* KEY.pem -> KEY.pub.pem, anything else -> NAME.pub.pem; malloc'd. */
static char *public_name(const char *priv)
{
	size_t n = strlen(priv);
	char *p;

	if (n > 4 && strcmp(priv + n - 4, ".pem") == 0)
		n -= 4;
	p = malloc(n + sizeof(".pub.pem"));
	if (p) {
		memcpy(p, priv, n);
		memcpy(p + n, ".pub.pem", sizeof(".pub.pem"));
	}
	return p;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "public",  1, NULL, 'p' },
		{ "force",   0, NULL, 'f' },
		{ "quiet",   0, NULL, 'q' },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	const char *pub = NULL;
	char fp[2 * EMT_SHA256_LEN + 1], esc[512], esc2[512];
	char *pub_alloc = NULL, *msg = NULL;
	int c, force = 0, quiet = 0, err;

	cli_init("emt-keygen", argv);
	while ((c = getopt_long(argc, argv, "p:fqhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (!*optarg)
				return cli_usage("empty public key file name");
			pub = optarg;
			break;
		case 'f': force = 1; break;
		case 'q': quiet = 1; break;
		default:
			return cli_common_opt(c, usage_text);
		}
	}
	if (optind >= argc)
		return cli_usage("missing key file operand");
	if (optind + 1 < argc)
		return cli_usage("one key file only (extra operand '%s')",
				 cli_escape_str(esc, sizeof(esc), argv[optind + 1]));
	if (!*argv[optind])
		return cli_usage("empty key file name");
	if (!pub) {
		pub = pub_alloc = public_name(argv[optind]);
		if (!pub) {
			cli_error("out of memory");
			return CLI_EXIT_FAIL;
		}
	}
	err = emt_key_generate(argv[optind], pub, force, fp, &msg);
	if (err) {
		cli_error("%s", cli_escape_str(esc, sizeof(esc), msg ? msg : strerror(-err)));
		free(msg);
		free(pub_alloc);
		return CLI_EXIT_FAIL;
	}
	if (!quiet) {
		printf("private key %s (mode 0600: keep it secret)\npublic key  %s\n"
		       "fingerprint %s\n",
		       cli_escape_str(esc, sizeof(esc), argv[optind]),
		       cli_escape_str(esc2, sizeof(esc2), pub), fp);
	}
	free(pub_alloc);
	if (fflush(stdout) != 0) {
		cli_error("cannot write output: %s", strerror(errno));
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}
