/**
 * A named Docker volume made reachable as a path: a short-lived helper container that mounts
 * it at /volumes/NAME (read-only unless a restore writes it), with no network, running only
 * a sleeping shell. The files source then works on that path through the container transport
 * (its /proc/PID/root), so a volume is backed up, fingerprinted and restored exactly like
 * `files`. The helper's image is `helper_image`, else the image of a container that already
 * mounts the volume (so nothing needs pulling); it needs `sh` and `sleep`.
 *
 * The helper is removed when the last user releases it (a drill holds it from its scratch
 * target to the cleanup, so the scratch dir in the helper lives as long as the drill), and a
 * helper left by a killed run (same name) is removed before a new one is made.
 */
import { randomBytes } from 'node:crypto';
import { TransportError, errorMessage } from '../core/errors.ts';
import type { DockerApi } from './docker-api.ts';

/** Where the helper mounts volumes: sources/volume's volumePath() names the same place. */
export const VOLUME_ROOT = '/volumes';
const HELPER_LABEL = 'org.lifeboat.helper';

/** The helper container of a volume source in this process. */
export function volumeHelperName(source: string): string {
  return `lifeboat-volume-${source.replace(/[^\w.-]/g, '_')}-${process.pid}`;
}

export interface VolumeHelperOptions {
  readonly volume: string;
  /** The source's name: the helper is lifeboat-volume-SOURCE-PID. */
  readonly source: string;
  readonly image?: string;
}

export class VolumeHelper {
  readonly name: string;
  readonly #api: DockerApi;
  readonly #o: VolumeHelperOptions;
  #id: string | undefined;
  #readOnly = true;
  #holders = 0;

  constructor(api: DockerApi, o: VolumeHelperOptions) {
    this.#api = api;
    this.#o = o;
    this.name = volumeHelperName(o.source);
  }

  /** Containers other than the helper that mount the volume. */
  async users(): Promise<Array<{ id: string; name: string; running: boolean; image: string }>> {
    const list = await this.#api.listByVolume(this.#o.volume);
    return list.filter((c) => c.Labels[HELPER_LABEL] === undefined)
      .map((c) => ({ id: c.Id, name: (c.Names[0] ?? c.Id).replace(/^\//, ''), running: c.State === 'running', image: c.Image }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async #image(): Promise<string> {
    if (this.#o.image !== undefined) return this.#o.image;
    const user = (await this.users())[0];
    if (user === undefined) {
      throw new TransportError('transport_failed', `no container uses volume ${this.#o.volume}, so there is no image to read it with: set helper_image on the source (any image with sh)`, { hint: 'set helper_image: debian:bookworm-slim (any image with sh and sleep)' });
    }
    return user.image;
  }

  /** Takes the helper (made and started if needed); `writable` mounts the volume read-write. */
  async acquire(writable: boolean): Promise<void> {
    if (this.#id !== undefined && writable && this.#readOnly) {
      throw new TransportError('transport_failed', `volume ${this.#o.volume} is mounted read-only by a running drill's helper; the restore cannot write it now`, { hint: 'run the restore after the drill' });
    }
    this.#holders++;
    if (this.#id !== undefined) return;
    try {
      await this.#api.volumeExists(this.#o.volume);
      await this.#api.remove(this.name); // left by a killed run of this pid
      const image = await this.#image();
      const id = await this.#api.create(this.name, {
        Image: image,
        Cmd: ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 3600 & wait $!; done'],
        Entrypoint: [],
        User: '0:0',
        Labels: { [HELPER_LABEL]: 'volume', 'org.lifeboat.volume': this.#o.volume, 'org.lifeboat.nonce': randomBytes(4).toString('hex') },
        NetworkDisabled: true,
        HostConfig: {
          NetworkMode: 'none',
          Mounts: [{ Type: 'volume', Source: this.#o.volume, Target: `${VOLUME_ROOT}/${this.#o.volume}`, ReadOnly: !writable }],
        },
      });
      this.#id = id;
      this.#readOnly = !writable;
      await this.#api.start(id).catch((err: unknown) => {
        // The engine's own words end in runc's ("exec: \"sh\": executable file not found"): keep that part.
        const why = /exec: "?([^":]+)"?: executable file not found/.exec(errorMessage(err));
        throw new TransportError('image_unusable', `the helper container ${this.name} of volume ${this.#o.volume} could not start from image ${image}: ${why ? `${why[1]} is not in the image` : errorMessage(err)}; the helper needs sh and sleep: set helper_image to an image that has them`, {
          cause: err, hint: 'helper_image: debian:bookworm-slim (any image with sh and sleep)',
        });
      });
    } catch (err) {
      this.#holders--;
      if (this.#id !== undefined) await this.#remove();
      throw err;
    }
  }

  /** Gives the helper back; the last holder removes it. */
  async release(): Promise<void> {
    this.#holders = Math.max(0, this.#holders - 1);
    if (this.#holders === 0) await this.#remove();
  }

  async #remove(): Promise<void> {
    const id = this.#id;
    this.#id = undefined;
    if (id === undefined) return;
    try {
      await this.#api.remove(id);
    } catch (err) {
      throw new TransportError('transport_failed', `the helper container ${this.name} of volume ${this.#o.volume} could not be removed: ${errorMessage(err)}; remove it by hand (docker rm -f ${this.name})`, { cause: err });
    }
  }
}
