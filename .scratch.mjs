import { makeImage, pushImage } from './dist/test/fixtures/archives.js';
import { createOciLayoutSink } from './dist/src/transports/oci-layout.js';
import { createDockerArchiveSink } from './dist/src/transports/docker-archive-sink.js';
import { createOciArchiveSink } from './dist/src/transports/oci-archive.js';
const img = await makeImage({ layers: 2 });
const s = await createOciLayoutSink('/tmp/sk/layout'); await pushImage(s, img, 'v1'); await s.commit();
for (const format of ['tarball','legacy']) { const d = await createDockerArchiveSink(`/tmp/sk/da-${format}.tar`, { format }); await pushImage(d, img, 'example.com/app:v1'); await d.commit(); }
const o = await createOciArchiveSink('/tmp/sk/oa.tar', { dockerManifest: true }); await pushImage(o, {...img}, undefined); await o.tag({...img.manifestDesc, annotations: {'io.containerd.image.name':'example.com/app:v1'}}, 'v1'); await o.commit();
const og = await createOciArchiveSink('/tmp/sk/oa.tar.gz', { compress: 'gzip' }); await pushImage(og, img, 'v1'); await og.commit();
console.log(img.configDesc.digest);
