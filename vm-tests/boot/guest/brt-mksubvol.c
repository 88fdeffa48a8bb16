/* brt-mksubvol PATH: creates a Btrfs subvolume at PATH (test-only helper for the boot tests'
 * stage 2, which has busybox but no btrfs-progs). Built with `cc -static`. */
#include <fcntl.h>
#include <linux/btrfs.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct btrfs_ioctl_vol_args args;
	char parent[4096], name[4096];
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: brt-mksubvol PATH\n");
		return 2;
	}
	snprintf(parent, sizeof parent, "%s", argv[1]);
	snprintf(name, sizeof name, "%s", argv[1]);
	fd = open(dirname(parent), O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		perror("brt-mksubvol: open parent");
		return 1;
	}
	memset(&args, 0, sizeof args);
	snprintf(args.name, sizeof args.name, "%s", basename(name));
	if (ioctl(fd, BTRFS_IOC_SUBVOL_CREATE, &args) < 0) {
		perror("brt-mksubvol: BTRFS_IOC_SUBVOL_CREATE");
		return 1;
	}
	close(fd);
	return 0;
}
