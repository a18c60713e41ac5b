/*
 * The guest side of the kernel oracle: runs PCM scenarios through the raw ioctls of
 * <sound/asound.h> and prints one JSON line per step on stdout, prefixed "@@ ".
 *
 * Input (one step per line): "S name card stream nonblock" opens a scenario, then
 * "hw FORMAT CHANNELS RATE PERIOD BUFFER", "sw AVAIL_MIN START STOP SIL_THRESH SIL_SIZE"
 * (-1 stands for the boundary), "prepare", "start", "write N", "read N", "sleep US",
 * "status", "delay", "avail", "hwsync", "drain", "drop", "pause 0|1", "reset",
 * "forward N", "close"; "E" ends it. Each step's line carries its return and errno,
 * then the state, hw_ptr and appl_ptr read through SYNC_PTR without a hwsync, avail
 * from them, and the time since the scenario began (delay where the step reads it: the
 * ioctl runs an update). A step still blocked after three seconds is interrupted (EINTR)
 * and the rest of its scenario skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <sound/asound.h>

static int fd = -1;
static long long t0;
static char frames_buf[1 << 20];
static unsigned long boundary;
static unsigned long buffer_size;

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void on_alarm(int sig) { (void)sig; }

static struct snd_interval *iv(struct snd_pcm_hw_params *p, int n)
{
	return &p->intervals[n - SNDRV_PCM_HW_PARAM_FIRST_INTERVAL];
}

static struct snd_mask *mk(struct snd_pcm_hw_params *p, int n)
{
	return &p->masks[n - SNDRV_PCM_HW_PARAM_FIRST_MASK];
}

static void set_iv(struct snd_pcm_hw_params *p, int n, unsigned v)
{
	struct snd_interval *i = iv(p, n);
	memset(i, 0, sizeof(*i));
	i->min = i->max = v;
	i->integer = 1;
}

static void mask_one(struct snd_pcm_hw_params *p, int n, unsigned bit)
{
	struct snd_mask *m = mk(p, n);
	memset(m, 0, sizeof(*m));
	m->bits[bit >> 5] = 1u << (bit & 31);
}

static int do_hw(const char *fmt, unsigned ch, unsigned rate, unsigned period,
		 unsigned buffer, char *extra, size_t len)
{
	struct snd_pcm_hw_params p;
	int f = strcmp(fmt, "S16_LE") == 0 ? SNDRV_PCM_FORMAT_S16_LE :
		strcmp(fmt, "S32_LE") == 0 ? SNDRV_PCM_FORMAT_S32_LE :
		strcmp(fmt, "U8") == 0 ? SNDRV_PCM_FORMAT_U8 : SNDRV_PCM_FORMAT_S24_LE;
	int n;

	memset(&p, 0, sizeof(p));
	for (n = SNDRV_PCM_HW_PARAM_FIRST_MASK; n <= SNDRV_PCM_HW_PARAM_LAST_MASK; n++)
		memset(mk(&p, n), 0xff, sizeof(struct snd_mask));
	for (n = SNDRV_PCM_HW_PARAM_FIRST_INTERVAL; n <= SNDRV_PCM_HW_PARAM_LAST_INTERVAL; n++)
		iv(&p, n)->max = ~0u;
	mask_one(&p, SNDRV_PCM_HW_PARAM_ACCESS, SNDRV_PCM_ACCESS_RW_INTERLEAVED);
	mask_one(&p, SNDRV_PCM_HW_PARAM_FORMAT, f);
	mask_one(&p, SNDRV_PCM_HW_PARAM_SUBFORMAT, SNDRV_PCM_SUBFORMAT_STD);
	set_iv(&p, SNDRV_PCM_HW_PARAM_CHANNELS, ch);
	set_iv(&p, SNDRV_PCM_HW_PARAM_RATE, rate);
	set_iv(&p, SNDRV_PCM_HW_PARAM_PERIOD_SIZE, period);
	set_iv(&p, SNDRV_PCM_HW_PARAM_BUFFER_SIZE, buffer);
	p.rmask = ~0u;
	if (ioctl(fd, SNDRV_PCM_IOCTL_HW_PARAMS, &p) < 0)
		return -errno;
	buffer_size = iv(&p, SNDRV_PCM_HW_PARAM_BUFFER_SIZE)->min;
	boundary = buffer_size;  /* as the kernel's: the buffer doubled below LONG_MAX */
	while (boundary * 2 <= 0x7fffffffffffffffUL - buffer_size)
		boundary *= 2;
	snprintf(extra, len, ",\"period\":%u,\"buffer\":%u",
		 iv(&p, SNDRV_PCM_HW_PARAM_PERIOD_SIZE)->min,
		 iv(&p, SNDRV_PCM_HW_PARAM_BUFFER_SIZE)->min);
	return 0;
}

static int do_sw(long avail_min, long start, long stop, long sth, long ssz)
{
	struct snd_pcm_sw_params s;

	memset(&s, 0, sizeof(s));
	s.proto = SNDRV_PCM_VERSION;
	s.period_step = 1;
	s.avail_min = avail_min;
	s.start_threshold = start < 0 ? boundary : (unsigned long)start;
	s.stop_threshold = stop < 0 ? boundary : (unsigned long)stop;
	s.silence_threshold = sth < 0 ? boundary : (unsigned long)sth;
	s.silence_size = ssz < 0 ? boundary : (unsigned long)ssz;
	if (ioctl(fd, SNDRV_PCM_IOCTL_SW_PARAMS, &s) < 0)
		return -errno;
	return 0;
}

static long xfer(unsigned long req, unsigned long frames, unsigned frame_bytes)
{
	struct snd_xferi x = { 0, frames_buf, frames };

	if (frames * frame_bytes > sizeof(frames_buf))
		return -ENOMEM;
	if (ioctl(fd, req, &x) < 0)
		return -errno;
	return x.result;
}

static void snapshot(int *state, unsigned long *hw, unsigned long *appl)
{
	struct snd_pcm_sync_ptr s;

	memset(&s, 0, sizeof(s));
	s.flags = SNDRV_PCM_SYNC_PTR_APPL | SNDRV_PCM_SYNC_PTR_AVAIL_MIN;
	if (fd < 0 || ioctl(fd, SNDRV_PCM_IOCTL_SYNC_PTR, &s) < 0) {
		*state = -1, *hw = 0, *appl = 0;
		return;
	}
	*state = s.s.status.state, *hw = s.s.status.hw_ptr, *appl = s.c.control.appl_ptr;
}

int main(int argc, char **argv)
{
	FILE *in = argc > 1 ? fopen(argv[1], "r") : stdin;
	char line[256], name[64] = "", op[32], a1[32];
	long v[5];
	int step = 0, skip = 0, playback = 1;
	unsigned frame_bytes = 4;
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;  /* no SA_RESTART: a blocked ioctl returns EINTR */
	sigaction(SIGALRM, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!in) {
		perror("scenarios");
		return 1;
	}
	printf("@@ {\"boot\":1}\n");
	while (fgets(line, sizeof(line), in)) {
		char extra[160] = "";
		long ret = 0, avail;
		int err = -1;  /* -1: the errno is -ret where ret < 0 */
		int state, n;
		unsigned long hw, appl;
		long long t;

		n = sscanf(line, "%31s %31s %ld %ld %ld %ld %ld", op, a1, &v[0], &v[1], &v[2],
			   &v[3], &v[4]);
		if (n < 1)
			continue;
		if (strcmp(op, "S") == 0) {
			int card = (int)v[0], nonblock = (int)v[2];
			char dev[64];

			snprintf(name, sizeof(name), "%s", a1);
			playback = v[1] == 0;
			snprintf(dev, sizeof(dev), "/dev/snd/pcmC%dD0%c", card, playback ? 'p' : 'c');
			step = 0, skip = 0, frame_bytes = 4;
			t0 = now_ns();
			fd = open(dev, O_RDWR | (nonblock ? O_NONBLOCK : 0));
			ret = fd < 0 ? -errno : 0;
			snprintf(op, sizeof(op), "open");
		} else if (strcmp(op, "E") == 0) {
			if (fd >= 0)
				close(fd);
			fd = -1;
			printf("@@ {\"s\":\"%s\",\"end\":1,\"skipped\":%d}\n", name, skip);
			continue;
		} else if (skip) {
			continue;
		} else {
			alarm(3);
			if (strcmp(op, "hw") == 0) {
				unsigned ch = (unsigned)v[0];
				ret = do_hw(a1, ch, (unsigned)v[1], (unsigned)v[2], (unsigned)v[3],
					    extra, sizeof(extra));
				frame_bytes = ch * (strcmp(a1, "S16_LE") == 0 ? 2 :
						    strcmp(a1, "U8") == 0 ? 1 : 4);
			} else if (strcmp(op, "sw") == 0) {
				ret = do_sw(atol(a1), v[0], v[1], v[2], v[3]);
			} else if (strcmp(op, "prepare") == 0) {
				ret = ioctl(fd, SNDRV_PCM_IOCTL_PREPARE) < 0 ? -errno : 0;
			} else if (strcmp(op, "start") == 0) {
				ret = ioctl(fd, SNDRV_PCM_IOCTL_START) < 0 ? -errno : 0;
			} else if (strcmp(op, "write") == 0) {
				ret = xfer(SNDRV_PCM_IOCTL_WRITEI_FRAMES, atol(a1), frame_bytes);
			} else if (strcmp(op, "read") == 0) {
				ret = xfer(SNDRV_PCM_IOCTL_READI_FRAMES, atol(a1), frame_bytes);
			} else if (strcmp(op, "sleep") == 0) {
				usleep((useconds_t)atol(a1));
			} else if (strcmp(op, "status") == 0) {
				struct snd_pcm_status st;
				memset(&st, 0, sizeof(st));
				if (ioctl(fd, SNDRV_PCM_IOCTL_STATUS, &st) < 0) {
					ret = -errno;
				} else {
					snprintf(extra, sizeof(extra),
						 ",\"st_state\":%d,\"st_avail\":%lu,\"st_delay\":%ld"
						 ",\"st_hw\":%lu,\"st_appl\":%lu",
						 st.state, st.avail, st.delay, st.hw_ptr, st.appl_ptr);
				}
			} else if (strcmp(op, "delay") == 0) {
				snd_pcm_sframes_t d = 0;
				if (ioctl(fd, SNDRV_PCM_IOCTL_DELAY, &d) < 0)
					ret = -errno;
				else
					ret = d, err = 0;  /* a delay may be negative */
			} else if (strcmp(op, "hwsync") == 0 || strcmp(op, "avail") == 0) {
				ret = ioctl(fd, SNDRV_PCM_IOCTL_HWSYNC) < 0 ? -errno : 0;
			} else if (strcmp(op, "drain") == 0) {
				ret = ioctl(fd, SNDRV_PCM_IOCTL_DRAIN) < 0 ? -errno : 0;
			} else if (strcmp(op, "drop") == 0) {
				ret = ioctl(fd, SNDRV_PCM_IOCTL_DROP) < 0 ? -errno : 0;
			} else if (strcmp(op, "pause") == 0) {
				ret = ioctl(fd, SNDRV_PCM_IOCTL_PAUSE, atoi(a1)) < 0 ? -errno : 0;
			} else if (strcmp(op, "reset") == 0) {
				ret = ioctl(fd, SNDRV_PCM_IOCTL_RESET) < 0 ? -errno : 0;
			} else if (strcmp(op, "forward") == 0) {
				snd_pcm_uframes_t f = (snd_pcm_uframes_t)atol(a1);
				ret = ioctl(fd, SNDRV_PCM_IOCTL_FORWARD, &f) < 0 ? -errno : (long)f;
			} else if (strcmp(op, "close") == 0) {
				ret = close(fd) < 0 ? -errno : 0;
				fd = -1;
			} else {
				ret = -ENOSYS;
			}
			alarm(0);
			if (ret == -EINTR)
				skip = 1;
		}
		t = now_ns() - t0;
		snapshot(&state, &hw, &appl);
		avail = 0;
		if (state > SNDRV_PCM_STATE_OPEN) {  /* snd_pcm_avail's arithmetic */
			avail = playback ? (long)(hw + buffer_size) - (long)appl
					 : (long)hw - (long)appl;
			if (avail < 0)
				avail += (long)boundary;
			else if (playback && (unsigned long)avail >= boundary)
				avail -= (long)boundary;
		}
		if (strcmp(op, "avail") == 0 && ret == 0)
			ret = avail;
		if (err < 0)
			err = ret < 0 ? (int)-ret : 0;
		printf("@@ {\"s\":\"%s\",\"i\":%d,\"op\":\"%s\",\"arg\":\"%s\",\"ret\":%ld,"
		       "\"err\":%d,\"state\":%d,\"hw\":%lu,\"appl\":%lu,\"avail\":%ld,"
		       "\"t\":%lld%s}\n",
		       name, step++, op, n > 1 ? a1 : "", ret, err, state, hw, appl, avail, t,
		       extra);
	}
	printf("@@ {\"done\":1}\n");
	return 0;
}
