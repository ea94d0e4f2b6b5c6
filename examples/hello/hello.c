// SPDX-License-Identifier: GPL-2.0
/*
 * The smallest useful module for ckms's own tests and documentation: it has a string and
 * an integer parameter, so that parameter handling is visible in modinfo and on load.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

static char *greeting = "hello";
module_param(greeting, charp, 0444);
MODULE_PARM_DESC(greeting, "Word printed on load and unload");

static int repeat = 1;
module_param(repeat, int, 0444);
MODULE_PARM_DESC(repeat, "How many times to print the greeting on load");

static int __init ckms_hello_init(void)
{
	int i;

	for (i = 0; i < repeat; i++)
		pr_info("ckms_hello: %s\n", greeting);
	return 0;
}

static void __exit ckms_hello_exit(void)
{
	pr_info("ckms_hello: %s, goodbye\n", greeting);
}

module_init(ckms_hello_init);
module_exit(ckms_hello_exit);

MODULE_DESCRIPTION("ckms example module");
MODULE_AUTHOR("ckms");
MODULE_LICENSE("GPL");
MODULE_VERSION("1.0.0");
