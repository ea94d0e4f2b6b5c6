// SPDX-License-Identifier: GPL-2.0
#include <linux/crc-itu-t.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

int ckms_pair_answer(void);

static bool fail_init;
module_param(fail_init, bool, 0444);
MODULE_PARM_DESC(fail_init, "Make init fail, to test a loader's rollback");

static int __init ckms_pair_b_init(void)
{
	u8 byte = 0x31;

	if (fail_init)
		return -ENODEV;
	pr_info("ckms_pair_b: answer %d, crc %04x\n", ckms_pair_answer(), crc_itu_t(0, &byte, 1));
	return 0;
}

static void __exit ckms_pair_b_exit(void)
{
}

module_init(ckms_pair_b_init);
module_exit(ckms_pair_b_exit);
MODULE_DESCRIPTION("ckms loader test: uses ckms_pair_a and crc-itu-t");
MODULE_LICENSE("GPL");
MODULE_VERSION("1.0.0");
