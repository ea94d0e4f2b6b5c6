// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>

int ckms_dep_answer(void)
{
	return 42;
}
EXPORT_SYMBOL_GPL(ckms_dep_answer);

static int __init ckms_dep_a_init(void)
{
	return 0;
}

static void __exit ckms_dep_a_exit(void)
{
}

module_init(ckms_dep_a_init);
module_exit(ckms_dep_a_exit);
MODULE_DESCRIPTION("ckms loader test: a BUILD_DEPENDS that exports a symbol");
MODULE_LICENSE("GPL");
