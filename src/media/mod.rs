//! What an uploaded file holds: its picture size, duration, rates and codecs.
//!
//! A video platform reads these from the file once it is uploaded, and an integration shows
//! them (a player sized to the video, a duration beside a thumbnail). The mock reads them from
//! the bytes it was actually sent, so a test that uploads a real file sees that file's figures,
//! not invented ones.
//!
//! MP4 and QuickTime (MOV) files are read: they are what browsers record, phones save and the
//! vendors' own examples upload. Only the file's index is read, never its media data: the
//! top-level boxes are walked with seeks (the `mdat` box, most of the file, is skipped, wherever
//! it is), and the `moov` box alone, up to [`MAX_INDEX_BYTES`], is handed to Mozilla's
//! `mp4parse`, the parser Firefox uses on untrusted files. Anything else is "not media", and
//! each vendor decides what that means on its wire.

use std::io::{Cursor, Read, Seek, SeekFrom};

/// The largest `moov` box read. A two-hour film's index is a few MiB; a larger one is refused
/// rather than read into memory.
pub const MAX_INDEX_BYTES: u64 = 32 * 1024 * 1024;

/// The most top-level boxes walked before the file is taken as not media (a real file has a
/// handful; a fragmented one a pair per fragment, and its `moov` comes first).
const MAX_TOP_LEVEL_BOXES: usize = 4096;

/// What a media file holds, as read from its index.
///
/// # Example
///
/// ```
/// let file = std::fs::read("fixtures/media/sample-640x360-audio.mp4").unwrap();
/// let info = vidmock::media::probe(&mut std::io::Cursor::new(file)).unwrap();
/// assert_eq!((info.width, info.height), (640, 360));
/// assert_eq!(info.aspect_ratio(), "16/9");
/// assert_eq!(info.video_codec.as_deref(), Some("h264"));
/// assert_eq!(info.audio_codec.as_deref(), Some("aac"));
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaInfo {
    /// The displayed width in pixels (after the track's rotation; 0 with no video track).
    pub width: u32,
    /// The displayed height in pixels (after the track's rotation; 0 with no video track).
    pub height: u32,
    /// The longest track's duration, in seconds.
    pub duration: f64,
    /// The whole file's bits per second (size × 8 ÷ duration; 0 when the duration is 0).
    pub bitrate: u64,
    /// Video frames per second (samples ÷ track duration), 0 with no video track.
    pub framerate: f64,
    /// The audio track's samples per second, if there is an audio track.
    pub samplerate: Option<u32>,
    /// The video codec's short name (`h264`, `av1`, `vp9`, …), if the video track has one the
    /// parser knows.
    pub video_codec: Option<String>,
    /// The audio codec's short name (`aac`, `mp3`, `opus`, …), if the audio track has one the
    /// parser knows.
    pub audio_codec: Option<String>,
}

impl MediaInfo {
    /// Width over height, reduced (`16/9`, `4/3`, `9/16`); `""` with no picture.
    ///
    /// # Example
    ///
    /// ```
    /// let file = std::fs::read("fixtures/media/sample-320x240.mp4").unwrap();
    /// let info = vidmock::media::probe(&mut std::io::Cursor::new(file)).unwrap();
    /// assert_eq!(info.aspect_ratio(), "4/3");
    /// ```
    pub fn aspect_ratio(&self) -> String {
        if self.width == 0 || self.height == 0 {
            return String::new();
        }
        let divisor = gcd(self.width, self.height);
        format!("{}/{}", self.width / divisor, self.height / divisor)
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Why a file could not be read as media.
///
/// # Example
///
/// ```
/// let not_media = vidmock::media::probe(&mut std::io::Cursor::new(b"hello, world".to_vec()));
/// assert!(not_media.is_err());
/// ```
#[derive(Debug)]
pub enum ProbeError {
    /// The bytes are not an MP4/MOV file, or one without a readable index (the reason says
    /// which).
    NotMedia(String),
    /// The file could not be read back.
    Io(std::io::Error),
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeError::NotMedia(reason) => write!(f, "not a media file: {reason}"),
            ProbeError::Io(error) => write!(f, "reading the file failed: {error}"),
        }
    }
}

impl std::error::Error for ProbeError {}

impl From<std::io::Error> for ProbeError {
    fn from(error: std::io::Error) -> Self {
        ProbeError::Io(error)
    }
}

fn not_media(reason: impl Into<String>) -> ProbeError {
    ProbeError::NotMedia(reason.into())
}

/// Reads what a media file holds, from its index only (a blocking call when the reader is a
/// file). The reader is taken from its start.
///
/// # Example
///
/// ```
/// let file = std::fs::read("fixtures/media/sample-320x240.mp4").unwrap();
/// let info = vidmock::media::probe(&mut std::io::Cursor::new(file)).unwrap();
/// assert_eq!((info.width, info.height), (320, 240));
/// assert_eq!(info.duration, 2.0);
/// assert_eq!(info.framerate, 25.0);
/// ```
pub fn probe<R: Read + Seek>(reader: &mut R) -> Result<MediaInfo, ProbeError> {
    let size = reader.seek(SeekFrom::End(0))?;
    let (ftyp, moov) = index_boxes(reader, size)?;
    // mp4parse wants the file type box before the movie box, as a file has them.
    let mut index = ftyp.unwrap_or_default();
    index.extend_from_slice(&moov);
    let context = mp4parse::read_mp4(&mut Cursor::new(index))
        .map_err(|error| not_media(format!("unreadable index: {error:?}")))?;
    Ok(summarise(&context, size))
}

/// Reads what a stored upload holds (a blocking call when it was spilled to disk); `None`
/// when only its digest was kept, so there are no bytes to read.
pub(crate) fn probe_upload(
    file: &crate::upload::Assembly,
) -> Option<Result<MediaInfo, ProbeError>> {
    let mut reader = file.reader()?;
    Some(probe(&mut reader))
}

/// Walks the top-level boxes, reading `ftyp` and `moov` whole and seeking past the others.
fn index_boxes<R: Read + Seek>(
    reader: &mut R,
    size: u64,
) -> Result<(Option<Vec<u8>>, Vec<u8>), ProbeError> {
    let mut ftyp = None;
    let mut at = 0u64;
    for _ in 0..MAX_TOP_LEVEL_BOXES {
        if at + 8 > size {
            break;
        }
        reader.seek(SeekFrom::Start(at))?;
        let mut head = [0u8; 16];
        reader.read_exact(&mut head[..8])?;
        let kind = [head[4], head[5], head[6], head[7]];
        if !kind.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            return Err(not_media("no ISO media boxes"));
        }
        let (length, header) = match u32::from_be_bytes([head[0], head[1], head[2], head[3]]) {
            // The box runs to the end of the file.
            0 => (size - at, 8),
            1 => {
                if at + 16 > size {
                    return Err(not_media("a box header is cut short"));
                }
                reader.read_exact(&mut head[8..16])?;
                let mut large = [0u8; 8];
                large.copy_from_slice(&head[8..16]);
                (u64::from_be_bytes(large), 16)
            }
            length => (u64::from(length), 8),
        };
        if length < header || length > size - at {
            return Err(not_media(format!(
                "the {} box's size does not fit the file",
                String::from_utf8_lossy(&kind)
            )));
        }
        if at == 0
            && !matches!(
                &kind,
                b"ftyp" | b"moov" | b"mdat" | b"free" | b"wide" | b"skip"
            )
        {
            return Err(not_media("the file does not start with an ISO media box"));
        }
        match &kind {
            b"ftyp" if ftyp.is_none() && length <= 4096 => {
                ftyp = Some(read_box(reader, at, length)?);
            }
            b"moov" => {
                if length > MAX_INDEX_BYTES {
                    return Err(not_media("the index is larger than the probe reads"));
                }
                return Ok((ftyp, read_box(reader, at, length)?));
            }
            _ => {}
        }
        at += length;
    }
    Err(not_media("no movie box (moov)"))
}

/// Reads a whole box of `length` bytes at `at` (checked to fit the file and the bounds).
fn read_box<R: Read + Seek>(reader: &mut R, at: u64, length: u64) -> std::io::Result<Vec<u8>> {
    reader.seek(SeekFrom::Start(at))?;
    let mut bytes = Vec::new();
    reader.take(length).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The figures of a parsed index, for a file of `size` bytes.
fn summarise(context: &mp4parse::MediaContext, size: u64) -> MediaInfo {
    use mp4parse::{SampleEntry, TrackType};

    let mut info = MediaInfo {
        width: 0,
        height: 0,
        duration: 0.0,
        bitrate: 0,
        framerate: 0.0,
        samplerate: None,
        video_codec: None,
        audio_codec: None,
    };
    let mut have_video = false;
    let mut have_audio = false;
    for track in context.tracks.iter() {
        let seconds = track_seconds(track);
        info.duration = info.duration.max(seconds);
        let entry = track
            .stsd
            .as_ref()
            .and_then(|stsd| stsd.descriptions.first());
        match (&track.track_type, entry) {
            (TrackType::Video, entry) if !have_video => {
                have_video = true;
                let (mut width, mut height) = match &track.tkhd {
                    Some(tkhd) if tkhd.width >> 16 > 0 && tkhd.height >> 16 > 0 => {
                        (tkhd.width >> 16, tkhd.height >> 16)
                    }
                    _ => match entry {
                        Some(SampleEntry::Video(video)) => {
                            (u32::from(video.width), u32::from(video.height))
                        }
                        _ => (0, 0),
                    },
                };
                // A quarter turn in the track's matrix shows the picture the other way round.
                if let Some(tkhd) = &track.tkhd {
                    if tkhd.matrix.a == 0 && tkhd.matrix.d == 0 && tkhd.matrix.b != 0 {
                        (width, height) = (height, width);
                    }
                }
                info.width = width;
                info.height = height;
                if let Some(SampleEntry::Video(video)) = entry {
                    info.video_codec = codec_name(video.codec_type).map(str::to_owned);
                }
                let frames: u64 = track
                    .stts
                    .as_ref()
                    .map(|stts| stts.samples.iter().map(|s| u64::from(s.sample_count)).sum())
                    .unwrap_or(0);
                if seconds > 0.0 {
                    info.framerate = round3(frames as f64 / seconds);
                }
            }
            (TrackType::Audio, Some(SampleEntry::Audio(audio))) if !have_audio => {
                have_audio = true;
                info.audio_codec = codec_name(audio.codec_type).map(str::to_owned);
                // The sample entry's rate is 16.16 and tops out at 65535 Hz; the track's
                // timescale is the sample rate for every common audio format.
                info.samplerate = match track.timescale {
                    Some(scale) if scale.0 > 0 => u32::try_from(scale.0).ok(),
                    _ => Some(audio.samplerate as u32),
                };
            }
            _ => {}
        }
    }
    info.duration = round3(info.duration);
    if info.duration > 0.0 {
        info.bitrate = (size as f64 * 8.0 / info.duration).round() as u64;
    }
    info
}

/// A track's duration in seconds (its media header's), 0 when it has none.
fn track_seconds(track: &mp4parse::Track) -> f64 {
    match (track.duration, track.timescale) {
        (Some(duration), Some(scale)) if scale.0 > 0 => duration.0 as f64 / scale.0 as f64,
        _ => 0.0,
    }
}

/// Rounded to the millisecond, as figures are shown.
fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// The short name tools print for a codec (ffprobe's `codec_name`).
fn codec_name(codec: mp4parse::CodecType) -> Option<&'static str> {
    use mp4parse::CodecType;
    Some(match codec {
        CodecType::H264 => "h264",
        CodecType::MP4V => "mpeg4",
        CodecType::AV1 => "av1",
        CodecType::VP9 => "vp9",
        CodecType::VP8 => "vp8",
        CodecType::H263 => "h263",
        CodecType::AAC => "aac",
        CodecType::MP3 => "mp3",
        CodecType::FLAC => "flac",
        CodecType::Opus => "opus",
        CodecType::ALAC => "alac",
        CodecType::LPCM => "pcm",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/media/");
        std::fs::read(format!("{path}{name}")).expect("a committed fixture")
    }

    fn probe_bytes(bytes: Vec<u8>) -> Result<MediaInfo, ProbeError> {
        probe(&mut Cursor::new(bytes))
    }

    #[test]
    fn a_landscape_video_without_sound_reads_its_size_duration_and_rate() {
        let file = fixture("sample-320x240.mp4");
        let size = file.len() as f64;

        let info = probe_bytes(file).unwrap();

        assert_eq!((info.width, info.height), (320, 240));
        assert_eq!(info.duration, 2.0);
        assert_eq!(info.framerate, 25.0);
        assert_eq!(info.video_codec.as_deref(), Some("h264"));
        assert_eq!(info.audio_codec, None);
        assert_eq!(info.samplerate, None);
        assert_eq!(info.aspect_ratio(), "4/3");
        assert_eq!(info.bitrate, (size * 8.0 / 2.0).round() as u64);
    }

    #[test]
    fn a_video_with_sound_reads_both_codecs_and_the_sample_rate() {
        let info = probe_bytes(fixture("sample-640x360-audio.mp4")).unwrap();

        assert_eq!((info.width, info.height), (640, 360));
        assert_eq!(info.framerate, 30.0);
        assert_eq!(info.video_codec.as_deref(), Some("h264"));
        assert_eq!(info.audio_codec.as_deref(), Some("aac"));
        assert_eq!(info.samplerate, Some(48000));
        assert_eq!(info.aspect_ratio(), "16/9");
        assert!((1.0..1.1).contains(&info.duration), "{}", info.duration);
    }

    #[test]
    fn a_portrait_video_with_its_index_at_the_end_is_read() {
        let info = probe_bytes(fixture("sample-180x320-portrait.mp4")).unwrap();

        assert_eq!((info.width, info.height), (180, 320));
        assert_eq!(info.aspect_ratio(), "9/16");
        assert_eq!(info.framerate, 24.0);
        assert_eq!(info.duration, 1.0);
    }

    #[tokio::test]
    async fn a_spilled_upload_in_pieces_is_probed_from_disk() {
        use crate::upload::{Assembly, Keying, PartWriter, Retention, SpillDir};
        let file = fixture("sample-640x360-audio.mp4");
        let spill = SpillDir::new();
        let upload = Assembly::new(Keying::Ordinal, Retention::Spill, 1);
        for (i, chunk) in file.chunks(4000).enumerate() {
            let mut writer = PartWriter::new(Some(&spill));
            writer.push(chunk).await;
            upload.insert(i as u64 + 1, writer.finish().await);
        }
        upload.drain().await;

        let info = probe_upload(&upload).unwrap().unwrap();

        assert_eq!((info.width, info.height), (640, 360));
        assert_eq!(info.audio_codec.as_deref(), Some("aac"));
    }

    #[test]
    fn text_is_not_media() {
        let error = probe_bytes(b"just some text, not a video at all".to_vec()).unwrap_err();

        assert!(matches!(error, ProbeError::NotMedia(_)), "{error}");
    }

    #[test]
    fn an_empty_file_is_not_media() {
        assert!(matches!(
            probe_bytes(Vec::new()),
            Err(ProbeError::NotMedia(_))
        ));
    }

    #[test]
    fn a_file_cut_before_its_index_is_not_media() {
        let mut file = fixture("sample-180x320-portrait.mp4");
        file.truncate(file.len() / 2);

        assert!(matches!(probe_bytes(file), Err(ProbeError::NotMedia(_))));
    }

    #[test]
    fn a_box_claiming_more_than_the_file_is_not_media() {
        let mut file = b"\xff\xff\xff\xf0ftypisom".to_vec();
        file.extend_from_slice(&[0; 32]);

        assert!(matches!(probe_bytes(file), Err(ProbeError::NotMedia(_))));
    }

    #[test]
    fn a_damaged_index_is_not_media_and_does_not_panic() {
        let mut file = fixture("sample-640x360-audio.mp4");
        // Scribble over the index (faststart puts it right after the file type box).
        for byte in file.iter_mut().skip(40).take(400).step_by(7) {
            *byte ^= 0x5a;
        }

        let _ = probe_bytes(file);
    }
}
