// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>

int ckms_pair_answer(void)
{
	return 42;
}
EXPORT_SYMBOL_GPL(ckms_pair_answer);

static int __init ckms_pair_a_init(void)
{
	return 0;
}

static void __exit ckms_pair_a_exit(void)
{
}

module_init(ckms_pair_a_init);
module_exit(ckms_pair_a_exit);
MODULE_DESCRIPTION("ckms loader test: exports a symbol");
MODULE_LICENSE("GPL");
MODULE_VERSION("1.0.0");
/* What a device table gives a driver: udev asks `modprobe <modalias>` for this device. */
MODULE_ALIAS("pci:v0000CAFEd0000BEEFsv*sd*bc*sc*i*");
