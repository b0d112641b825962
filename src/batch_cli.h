/* `lgkvm batch`: its command line (src/batch_cli.c); the work is in
 * src/batch_manifest.c, src/batch_run.c and src/batch_results.c. */
#ifndef LGKVM_BATCH_CLI_H
#define LGKVM_BATCH_CLI_H

/* argv[1] is "batch".  Returns the process exit status. */
int batch_main(int argc, char **argv);

#endif
