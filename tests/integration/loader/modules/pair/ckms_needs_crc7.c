// SPDX-License-Identifier: GPL-2.0
#include <linux/crc7.h>
#include <linux/module.h>

static int __init ckms_needs_crc7_init(void)
{
	u8 byte = 0x31;

	pr_info("ckms_needs_crc7: %02x\n", crc7_be(0, &byte, 1));
	return 0;
}

static void __exit ckms_needs_crc7_exit(void)
{
}

module_init(ckms_needs_crc7_init);
module_exit(ckms_needs_crc7_exit);
MODULE_DESCRIPTION("ckms loader test: needs the in-tree crc7");
MODULE_LICENSE("GPL");
MODULE_VERSION("1.0.0");
