//! Git's pkt-line framing and side-band multiplexing, as much as the simulator's git server
//! needs to read a push's commands and to answer a refused push in a way `git push` prints.
//! See gitprotocol-common(5) and gitprotocol-pack(5).

/// The flush packet, `0000`.
pub const FLUSH: &[u8] = b"0000";

/// The largest payload of one side-band-64k packet (65520 minus the length and band byte).
const SIDEBAND_64K_MAX: usize = 65515;
/// The largest payload of one plain side-band packet.
const SIDEBAND_MAX: usize = 995;

/// One pkt-line read from a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    Flush,
    Data(&'a [u8]),
}

/// Reads the pkt-line at `buf[at..]`: the packet and the offset just past it, or `None` when
/// the buffer ends or the length is not four hex digits.
pub fn read(buf: &[u8], at: usize) -> Option<(Packet<'_>, usize)> {
    let head = buf.get(at..at + 4)?;
    let len = usize::from_str_radix(std::str::from_utf8(head).ok()?, 16).ok()?;
    match len {
        0 => Some((Packet::Flush, at + 4)),
        // 0001 (delim) and 0002 (response end) belong to protocol v2, which push never uses.
        1..=3 => None,
        _ => {
            let data = buf.get(at + 4..at + len)?;
            Some((Packet::Data(data), at + len))
        }
    }
}

/// Appends `data` as one pkt-line.
pub fn write(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(format!("{:04x}", data.len() + 4).as_bytes());
    out.extend_from_slice(data);
}

/// Appends `data` on side-band `band`, split into packets no larger than the band allows.
pub fn write_band(out: &mut Vec<u8>, band: u8, data: &[u8], large: bool) {
    let max = if large {
        SIDEBAND_64K_MAX
    } else {
        SIDEBAND_MAX
    };
    for chunk in data.chunks(max) {
        let mut p = Vec::with_capacity(chunk.len() + 1);
        p.push(band);
        p.extend_from_slice(chunk);
        write(out, &p);
    }
}

/// A side-band stream taken apart: band 1 (the data, here the report-status) joined, and
/// the packets of bands 2 (progress) and 3 (fatal error) in order.
#[derive(Debug, Default)]
pub struct Demuxed {
    pub data: Vec<u8>,
    pub messages: Vec<(u8, Vec<u8>)>,
}

/// Splits a side-band stream that ends with a flush; `None` when it is not one.
pub fn demux(buf: &[u8]) -> Option<Demuxed> {
    let mut out = Demuxed::default();
    let mut at = 0;
    loop {
        match read(buf, at)? {
            (Packet::Flush, next) => {
                return (next == buf.len()).then_some(out);
            }
            (Packet::Data(p), next) => {
                match p.split_first()? {
                    (1, rest) => out.data.extend_from_slice(rest),
                    (b @ (2 | 3), rest) => out.messages.push((*b, rest.to_vec())),
                    _ => return None,
                }
                at = next;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_bands_split_and_join() {
        let mut buf = Vec::new();
        write(&mut buf, b"unpack ok\n");
        buf.extend_from_slice(FLUSH);
        assert_eq!(&buf[..4], b"000e");
        let (p, next) = read(&buf, 0).unwrap();
        assert_eq!(p, Packet::Data(b"unpack ok\n"));
        assert_eq!(read(&buf, next).unwrap().0, Packet::Flush);
        assert!(read(&buf, next + 4).is_none());
        assert!(read(b"00zz", 0).is_none());

        let mut muxed = Vec::new();
        write_band(&mut muxed, 2, b"hello\n", false);
        let big = vec![b'x'; 2500];
        write_band(&mut muxed, 1, &big, false);
        muxed.extend_from_slice(FLUSH);
        let d = demux(&muxed).unwrap();
        assert_eq!(d.data, big);
        assert_eq!(d.messages, vec![(2, b"hello\n".to_vec())]);
        assert!(demux(b"0005\x09").is_none(), "band 9 is no band");
    }
}
