// A folder picked in the browser as a zip file (stored, not compressed: cheap, and the server
// only needs the files), so a folder uploads like a zip.

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes) {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function header(size) {
  const buffer = new ArrayBuffer(size);
  return { buffer, view: new DataView(buffer) };
}

/** The zip of `entries` ([{path, bytes}]) as a Blob; paths use "/" and stay as given. */
export function zipBlob(entries) {
  const parts = [];
  const central = [];
  let offset = 0;
  const encoder = new TextEncoder();
  for (const { path, bytes } of entries) {
    const name = encoder.encode(path);
    const crc = crc32(bytes);
    const local = header(30);
    const v = local.view;
    v.setUint32(0, 0x04034b50, true);
    v.setUint16(4, 20, true);
    v.setUint16(6, 0x0800, true); // UTF-8 names
    v.setUint32(14, crc, true);
    v.setUint32(18, bytes.length, true);
    v.setUint32(22, bytes.length, true);
    v.setUint16(26, name.length, true);
    parts.push(local.buffer, name, bytes);
    const entry = header(46);
    const c = entry.view;
    c.setUint32(0, 0x02014b50, true);
    c.setUint16(4, 20, true);
    c.setUint16(6, 20, true);
    c.setUint16(8, 0x0800, true);
    c.setUint32(16, crc, true);
    c.setUint32(20, bytes.length, true);
    c.setUint32(24, bytes.length, true);
    c.setUint16(28, name.length, true);
    c.setUint32(42, offset, true);
    central.push(entry.buffer, name);
    offset += 30 + name.length + bytes.length;
  }
  const size = central.reduce((n, part) => n + (part.byteLength ?? part.length), 0);
  const end = header(22);
  end.view.setUint32(0, 0x06054b50, true);
  end.view.setUint16(8, entries.length, true);
  end.view.setUint16(10, entries.length, true);
  end.view.setUint32(12, size, true);
  end.view.setUint32(16, offset, true);
  return new Blob([...parts, ...central, end.buffer], { type: "application/zip" });
}

/** The files of a webkitdirectory pick as a zip named after the folder, rooted inside it. */
export async function zipFolder(files) {
  const list = Array.from(files);
  const root = (list[0].webkitRelativePath || list[0].name).split("/")[0];
  const entries = [];
  for (const file of list) {
    const parts = (file.webkitRelativePath || file.name).split("/");
    const path = parts[0] === root && parts.length > 1 ? parts.slice(1).join("/") : parts.join("/");
    if (path.split("/").some((p) => p === "__pycache__" || p.startsWith("."))) continue;
    entries.push({ path, bytes: new Uint8Array(await file.arrayBuffer()) });
  }
  return new File([zipBlob(entries)], `${root}.zip`, { type: "application/zip" });
}
