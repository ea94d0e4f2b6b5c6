// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>

int ckms_dep_answer(void);

static int __init ckms_dep_b_init(void)
{
	pr_info("ckms_dep_b: answer %d\n", ckms_dep_answer());
	return ckms_dep_answer() == 42 ? 0 : -EINVAL;
}

static void __exit ckms_dep_b_exit(void)
{
}

module_init(ckms_dep_b_init);
module_exit(ckms_dep_b_exit);
MODULE_DESCRIPTION("ckms loader test: uses ckms-dep-a's symbol");
MODULE_LICENSE("GPL");
