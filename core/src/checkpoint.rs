//! Checkpoints: a model's tensors, and optionally its training state, in one checked byte
//! buffer.
//!
//! ```
//! use gradwell::checkpoint::{self, Extras, ExtrasMut};
//! use gradwell::{build, weather, Init, Zeroed};
//!
//! let model: weather::Model = build(Init::PyTorch, 7);
//! let mut bytes = [0u8; checkpoint::encoded_len::<weather::Model>(0, 0)];
//! let written = checkpoint::encode(&model, &Extras::default(), &mut bytes).unwrap();
//! assert_eq!(written, bytes.len());
//!
//! let mut restored = weather::Model::zeroed();
//! checkpoint::decode(&bytes, &mut restored, &mut ExtrasMut::default()).unwrap();
//! assert_eq!(restored, model);
//! ```
//!
//! # Layout (version 1)
//!
//! Every number is little-endian. `P`, `S` and `N` are counts read from the header.
//!
//! | Offset            | Size   | Field                                                          |
//! |-------------------|--------|----------------------------------------------------------------|
//! | 0                 | 4      | magic `b"GWCK"`                                                |
//! | 4                 | 2      | format version, `u16` ([`VERSION`])                            |
//! | 6                 | 2      | flags, `u16`: bit 0 optimizer state, bit 1 step count, bit 2 input scaling |
//! | 8                 | 8      | structure fingerprint, `u64` ([`Fingerprint::of`])              |
//! | 16                | 4      | step count, `u32` (0 when bit 1 is clear)                      |
//! | 20                | 4      | `P`, number of parameter and buffer values, `u32`               |
//! | 24                | 4      | `S`, number of optimizer-state values, `u32` (0 when bit 0 is clear) |
//! | 28                | 4      | `N`, number of scaled input features, `u32` (0 when bit 2 is clear) |
//! | 32                | 4·P    | parameters and buffers, `f32`, in [`Layer::visit_tensors`] order |
//! | 32 + 4·P          | 4·S    | optimizer state, `f32`, in [`Tensors::for_each`] order          |
//! | 32 + 4·(P+S)      | 4·N    | input-scaling means, `f32`                                     |
//! | 32 + 4·(P+S+N)    | 4·N    | input-scaling standard deviations, `f32`                       |
//! | 32 + 4·(P+S+2N)   | 4      | CRC-32/ISO-HDLC (the zlib and PNG CRC) of every byte before it, `u32` |
//!
//! The whole checkpoint is [`encoded_len`] bytes. [`decode`] ignores bytes after the CRC, so
//! a checkpoint can sit at the start of a larger flash region.
//!
//! # Validation
//!
//! Before it writes anything, [`decode`] checks the magic, the version, the flags, the lengths,
//! the CRC and the fingerprint. It also checks that every requested section is present with the
//! length of its target, and that every value it is about to write is finite. A rejected checkpoint leaves
//! the model and every target in [`ExtrasMut`] exactly as they were. [`encode`] rejects
//! non-finite values too, so every checkpoint it writes can be decoded.

use crate::layer::{Fingerprint, Layer};
use crate::scale::Standardizer;
use crate::tensor::Tensors;

/// The magic bytes at the start of every checkpoint.
pub const MAGIC: [u8; 4] = *b"GWCK";

/// The format version [`encode`] writes and [`decode`] reads.
pub const VERSION: u16 = 1;

/// Size of the fixed header, in bytes.
pub const HEADER_LEN: usize = 32;

/// Size of the CRC trailer, in bytes.
pub const CRC_LEN: usize = 4;

const FLAG_OPTIMIZER_STATE: u16 = 1 << 0;
const FLAG_STEP: u16 = 1 << 1;
const FLAG_SCALING: u16 = 1 << 2;
const KNOWN_FLAGS: u16 = FLAG_OPTIMIZER_STATE | FLAG_STEP | FLAG_SCALING;

/// A part of a checkpoint, named in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Section {
    /// The model's parameters and buffers.
    Parameters,
    /// The optimizer state, such as Adam's moments.
    OptimizerState,
    /// The number of training steps taken.
    Step,
    /// The input-scaling statistics (means and standard deviations).
    Scaling,
}

impl core::fmt::Display for Section {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Section::Parameters => "parameters",
            Section::OptimizerState => "optimizer state",
            Section::Step => "step count",
            Section::Scaling => "input scaling",
        })
    }
}

/// Error from [`encode`]. The output buffer then contains no valid checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer is shorter than the checkpoint.
    BufferTooSmall {
        /// Bytes the checkpoint needs ([`encoded_len`]).
        needed: usize,
        /// Bytes in the output buffer.
        available: usize,
    },
    /// A value is NaN or infinite.
    NonFinite {
        /// The section containing the value.
        section: Section,
        /// Index of the tensor in the section's visiting order (for scaling, 0 for the means
        /// and 1 for the standard deviations).
        tensor: usize,
        /// Index of the value in the tensor.
        offset: usize,
    },
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EncodeError::BufferTooSmall { needed, available } => write!(
                f,
                "checkpoint needs {needed} bytes but the output buffer has {available}"
            ),
            EncodeError::NonFinite {
                section,
                tensor,
                offset,
            } => write!(
                f,
                "value {offset} of tensor {tensor} in the {section} section is not finite"
            ),
        }
    }
}

impl core::error::Error for EncodeError {}

/// Error from [`decode`] or [`inspect`]. The model and the targets are unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DecodeError {
    /// The data does not start with [`MAGIC`], so it is not a checkpoint.
    BadMagic,
    /// The checkpoint was written in a format version this build cannot read.
    UnsupportedVersion {
        /// The version in the checkpoint.
        found: u16,
    },
    /// The header sets flags this version does not define.
    UnsupportedFlags {
        /// The flags in the checkpoint.
        found: u16,
    },
    /// The data ends before the checkpoint does.
    Truncated {
        /// Bytes the checkpoint needs.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// The stored CRC does not match the data, so the checkpoint is corrupted.
    CrcMismatch {
        /// The CRC stored in the checkpoint.
        stored: u32,
        /// The CRC computed over the data.
        computed: u32,
    },
    /// The checkpoint was saved from a model of another structure.
    FingerprintMismatch {
        /// Fingerprint of the target model type.
        expected: u64,
        /// Fingerprint stored in the checkpoint.
        found: u64,
    },
    /// A section has a different number of values than its target.
    LengthMismatch {
        /// The section.
        section: Section,
        /// Number of values in the target (or 0 for a section whose flag is clear).
        expected: usize,
        /// Number of values in the checkpoint.
        found: usize,
    },
    /// A target was given for a section the checkpoint does not contain.
    MissingSection {
        /// The section.
        section: Section,
    },
    /// A value that would be written is NaN or infinite.
    NonFinite {
        /// The section containing the value.
        section: Section,
        /// Index of the tensor in the section's visiting order (for scaling, 0 for the means
        /// and 1 for the standard deviations).
        tensor: usize,
        /// Index of the value in the tensor.
        offset: usize,
    },
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::BadMagic => f.write_str("not a gradwell checkpoint (magic bytes are not GWCK)"),
            DecodeError::UnsupportedVersion { found } => write!(
                f,
                "checkpoint format version {found} is not supported; this build reads version {VERSION}"
            ),
            DecodeError::UnsupportedFlags { found } => write!(
                f,
                "checkpoint flags {found:#06x} contain bits this version does not define (known: {KNOWN_FLAGS:#06x})"
            ),
            DecodeError::Truncated { needed, available } => write!(
                f,
                "checkpoint is truncated: it needs {needed} bytes but only {available} are available"
            ),
            DecodeError::CrcMismatch { stored, computed } => write!(
                f,
                "checkpoint is corrupted: stored CRC-32 {stored:#010x}, computed {computed:#010x}"
            ),
            DecodeError::FingerprintMismatch { expected, found } => write!(
                f,
                "checkpoint was saved from another model structure: fingerprint {found:#018x}, expected {expected:#018x}"
            ),
            DecodeError::LengthMismatch {
                section,
                expected,
                found,
            } => write!(
                f,
                "{section} section has {found} values, expected {expected}"
            ),
            DecodeError::MissingSection { section } => {
                write!(f, "checkpoint has no {section} section")
            }
            DecodeError::NonFinite {
                section,
                tensor,
                offset,
            } => write!(
                f,
                "value {offset} of tensor {tensor} in the {section} section is not finite"
            ),
        }
    }
}

impl core::error::Error for DecodeError {}

/// A [`Tensors`] value seen through a trait object, so that [`Extras`] can hold any optimizer
/// state without a type parameter. Every [`Tensors`] type implements it.
pub trait DynTensors {
    /// Returns the number of `f32` values.
    fn value_count(&self) -> usize;
    /// Calls `f` on each tensor, in [`Tensors::for_each`] order.
    fn visit(&self, f: &mut dyn FnMut(&[f32]));
    /// Calls `f` on each tensor for writing, in the same order.
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut [f32]));
}

impl<T: Tensors> DynTensors for T {
    fn value_count(&self) -> usize {
        T::LEN
    }
    fn visit(&self, f: &mut dyn FnMut(&[f32])) {
        self.for_each(f);
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut [f32])) {
        self.for_each_mut(f);
    }
}

/// Input-scaling statistics to store: the means and standard deviations of a [`Standardizer`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scaling<'a> {
    mean: &'a [f32],
    std: &'a [f32],
}

impl<'a> Scaling<'a> {
    /// Takes the statistics of `scaler`.
    pub fn from_standardizer<const N: usize>(scaler: &'a Standardizer<N>) -> Self {
        Self {
            mean: &scaler.mean,
            std: &scaler.std,
        }
    }

    /// Returns the number of features.
    pub fn features(&self) -> usize {
        self.mean.len()
    }
}

/// A target for stored input-scaling statistics: the fields of a [`Standardizer`].
#[derive(Debug, PartialEq)]
pub struct ScalingMut<'a> {
    mean: &'a mut [f32],
    std: &'a mut [f32],
}

impl<'a> ScalingMut<'a> {
    /// Targets the statistics of `scaler`.
    pub fn from_standardizer<const N: usize>(scaler: &'a mut Standardizer<N>) -> Self {
        Self {
            mean: &mut scaler.mean,
            std: &mut scaler.std,
        }
    }
}

/// The optional sections [`encode`] writes beside the model.
#[derive(Clone, Copy, Default)]
pub struct Extras<'a> {
    /// Optimizer state to store, such as `trainer.state`.
    pub optimizer_state: Option<&'a dyn DynTensors>,
    /// Number of training steps taken, such as `trainer.step`.
    pub step: Option<u32>,
    /// Input-scaling statistics to store.
    pub scaling: Option<Scaling<'a>>,
}

impl Extras<'_> {
    /// Returns the size of the checkpoint [`encode`] writes for a model of type `M` with these
    /// sections, in bytes.
    pub fn encoded_len<M: Layer>(&self) -> usize {
        encoded_len::<M>(
            self.optimizer_state.map_or(0, |s| s.value_count()),
            self.scaling.map_or(0, |s| s.features()),
        )
    }
}

/// The targets [`decode`] fills from the optional sections. A target left `None` is not read
/// even when the checkpoint contains its section.
#[derive(Default)]
pub struct ExtrasMut<'a> {
    /// Target for the optimizer state, such as `&mut trainer.state`.
    pub optimizer_state: Option<&'a mut dyn DynTensors>,
    /// Target for the step count, such as `&mut trainer.step`.
    pub step: Option<&'a mut u32>,
    /// Target for the input-scaling statistics.
    pub scaling: Option<ScalingMut<'a>>,
}

/// The header of a checked checkpoint, returned by [`inspect`] and [`decode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Info {
    /// Format version.
    pub version: u16,
    /// Structure fingerprint of the model the checkpoint was saved from.
    pub fingerprint: u64,
    /// Number of parameter and buffer values.
    pub parameters: usize,
    /// Number of optimizer-state values, or `None` when the section is absent.
    pub optimizer_state: Option<usize>,
    /// Step count, or `None` when the section is absent.
    pub step: Option<u32>,
    /// Number of scaled input features, or `None` when the section is absent.
    pub scaling_features: Option<usize>,
    /// Length of the checkpoint in bytes, CRC included.
    pub len: usize,
    /// The CRC-32 stored in the checkpoint, which matched the data.
    pub crc: u32,
}

/// Returns the size in bytes of a checkpoint of a model of type `M` with `optimizer_state`
/// optimizer values (for example `<(M::Grads, M::Grads)>::LEN` for Adam, 0 without) and
/// `scaling_features` scaled inputs (0 without).
///
/// It is a `const fn`, so a device can size a `static` buffer with it.
pub const fn encoded_len<M: Layer>(optimizer_state: usize, scaling_features: usize) -> usize {
    HEADER_LEN + 4 * (M::STORED + optimizer_state + 2 * scaling_features) + CRC_LEN
}

/// Writes a checkpoint of `model` and the sections in `extras` to the start of `out`, and
/// returns its length in bytes.
///
/// # Errors
/// [`EncodeError::BufferTooSmall`] when `out` is shorter than [`Extras::encoded_len`], and
/// [`EncodeError::NonFinite`] when a value is NaN or infinite.
pub fn encode<M: Layer>(model: &M, extras: &Extras, out: &mut [u8]) -> Result<usize, EncodeError> {
    let len = extras.encoded_len::<M>();
    if out.len() < len {
        return Err(EncodeError::BufferTooSmall {
            needed: len,
            available: out.len(),
        });
    }
    let out = &mut out[..len];

    // Header.
    let mut flags = 0;
    if extras.optimizer_state.is_some() {
        flags |= FLAG_OPTIMIZER_STATE;
    }
    if extras.step.is_some() {
        flags |= FLAG_STEP;
    }
    if extras.scaling.is_some() {
        flags |= FLAG_SCALING;
    }
    let optimizer_len = extras.optimizer_state.map_or(0, |s| s.value_count());
    let features = extras.scaling.map_or(0, |s| s.features());
    out[0..4].copy_from_slice(&MAGIC);
    out[4..6].copy_from_slice(&VERSION.to_le_bytes());
    out[6..8].copy_from_slice(&flags.to_le_bytes());
    out[8..16].copy_from_slice(&Fingerprint::of::<M>().to_le_bytes());
    out[16..20].copy_from_slice(&extras.step.unwrap_or(0).to_le_bytes());
    out[20..24].copy_from_slice(&count_to_u32(M::STORED).to_le_bytes());
    out[24..28].copy_from_slice(&count_to_u32(optimizer_len).to_le_bytes());
    out[28..32].copy_from_slice(&count_to_u32(features).to_le_bytes());

    // Sections, each checked for non-finite values as it is written.
    let mut writer = SectionWriter {
        out,
        position: HEADER_LEN,
        tensor: 0,
        error: None,
    };
    writer.start_section();
    model.visit_tensors("", 0, &mut |_, values| {
        writer.write(Section::Parameters, values)
    });
    if let Some(state) = extras.optimizer_state {
        writer.start_section();
        state.visit(&mut |values| writer.write(Section::OptimizerState, values));
    }
    if let Some(scaling) = extras.scaling {
        writer.start_section();
        writer.write(Section::Scaling, scaling.mean);
        writer.write(Section::Scaling, scaling.std);
    }
    if let Some(error) = writer.error {
        return Err(error);
    }
    debug_assert_eq!(
        writer.position,
        len - CRC_LEN,
        "M::STORED disagrees with visit_tensors"
    );

    let crc = crc32(&out[..len - CRC_LEN]);
    out[len - CRC_LEN..].copy_from_slice(&crc.to_le_bytes());
    Ok(len)
}

/// Checks a checkpoint without a model: magic, version, flags, lengths and CRC.
///
/// # Errors
/// [`DecodeError::BadMagic`], [`DecodeError::UnsupportedVersion`],
/// [`DecodeError::UnsupportedFlags`], [`DecodeError::Truncated`],
/// [`DecodeError::LengthMismatch`] for a count set while its flag is clear, and
/// [`DecodeError::CrcMismatch`].
pub fn inspect(bytes: &[u8]) -> Result<Info, DecodeError> {
    if bytes.len() >= MAGIC.len() && bytes[..MAGIC.len()] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    if bytes.len() < HEADER_LEN + CRC_LEN {
        return Err(DecodeError::Truncated {
            needed: HEADER_LEN + CRC_LEN,
            available: bytes.len(),
        });
    }

    let version = read_u16(bytes, 4);
    if version != VERSION {
        return Err(DecodeError::UnsupportedVersion { found: version });
    }
    let flags = read_u16(bytes, 6);
    if flags & !KNOWN_FLAGS != 0 {
        return Err(DecodeError::UnsupportedFlags { found: flags });
    }
    let fingerprint = read_u64(bytes, 8);
    let step = read_u32(bytes, 16);
    let parameters = read_u32(bytes, 20) as usize;
    let optimizer_state = read_u32(bytes, 24) as usize;
    let scaling_features = read_u32(bytes, 28) as usize;
    check_absent(
        flags,
        FLAG_OPTIMIZER_STATE,
        Section::OptimizerState,
        optimizer_state,
    )?;
    check_absent(flags, FLAG_STEP, Section::Step, step as usize)?;
    check_absent(flags, FLAG_SCALING, Section::Scaling, scaling_features)?;

    // Computed in u64 so that no count in a corrupted header can overflow.
    let needed = HEADER_LEN as u64
        + 4 * (parameters as u64 + optimizer_state as u64 + 2 * scaling_features as u64)
        + CRC_LEN as u64;
    if needed > bytes.len() as u64 {
        return Err(DecodeError::Truncated {
            needed: usize::try_from(needed).unwrap_or(usize::MAX),
            available: bytes.len(),
        });
    }
    let len = needed as usize;

    let stored = read_u32(bytes, len - CRC_LEN);
    let computed = crc32(&bytes[..len - CRC_LEN]);
    if stored != computed {
        return Err(DecodeError::CrcMismatch { stored, computed });
    }

    Ok(Info {
        version,
        fingerprint,
        parameters,
        optimizer_state: (flags & FLAG_OPTIMIZER_STATE != 0).then_some(optimizer_state),
        step: (flags & FLAG_STEP != 0).then_some(step),
        scaling_features: (flags & FLAG_SCALING != 0).then_some(scaling_features),
        len,
        crc: stored,
    })
}

/// Reads a checkpoint into `model` and into the targets of `extras`, and returns its header.
///
/// Everything is checked before anything is written (see the module documentation), so on
/// error `model` and the targets are unchanged. Sections without a target are skipped.
///
/// # Errors
/// Those of [`inspect`], and also:
/// - [`DecodeError::FingerprintMismatch`] when the checkpoint is of another model structure,
/// - [`DecodeError::MissingSection`] when a target's section is absent,
/// - [`DecodeError::LengthMismatch`] when a section's length differs from its target's,
/// - [`DecodeError::NonFinite`] when a value to write is NaN or infinite.
pub fn decode<M: Layer>(
    bytes: &[u8],
    model: &mut M,
    extras: &mut ExtrasMut,
) -> Result<Info, DecodeError> {
    let info = inspect(bytes)?;
    let expected = Fingerprint::of::<M>();
    if info.fingerprint != expected {
        return Err(DecodeError::FingerprintMismatch {
            expected,
            found: info.fingerprint,
        });
    }

    // Lengths of every section against its target.
    let mut parameter_count = 0;
    model.visit_tensors("", 0, &mut |_, values| parameter_count += values.len());
    check_length(Section::Parameters, parameter_count, Some(info.parameters))?;
    if let Some(state) = &extras.optimizer_state {
        check_length(
            Section::OptimizerState,
            state.value_count(),
            info.optimizer_state,
        )?;
    }
    if extras.step.is_some() && info.step.is_none() {
        return Err(DecodeError::MissingSection {
            section: Section::Step,
        });
    }
    if let Some(scaling) = &extras.scaling {
        check_length(Section::Scaling, scaling.mean.len(), info.scaling_features)?;
    }

    // Section offsets, then every value to be written checked for finiteness.
    let parameters_at = HEADER_LEN;
    let optimizer_at = parameters_at + 4 * info.parameters;
    let scaling_at = optimizer_at + 4 * info.optimizer_state.unwrap_or(0);
    let features = info.scaling_features.unwrap_or(0);

    let mut reader = SectionReader::new(bytes, parameters_at);
    model.visit_tensors("", 0, &mut |_, values| {
        reader.check_finite(Section::Parameters, values.len());
    });
    reader.result()?;
    if let Some(state) = &extras.optimizer_state {
        let mut reader = SectionReader::new(bytes, optimizer_at);
        state.visit(&mut |values| reader.check_finite(Section::OptimizerState, values.len()));
        reader.result()?;
    }
    if extras.scaling.is_some() {
        let mut reader = SectionReader::new(bytes, scaling_at);
        reader.check_finite(Section::Scaling, features);
        reader.check_finite(Section::Scaling, features);
        reader.result()?;
    }

    // Everything is valid: write.
    let mut reader = SectionReader::new(bytes, parameters_at);
    model.visit_tensors_mut("", 0, &mut |_, values| reader.read_into(values));
    if let Some(state) = &mut extras.optimizer_state {
        let mut reader = SectionReader::new(bytes, optimizer_at);
        state.visit_mut(&mut |values| reader.read_into(values));
    }
    if let (Some(target), Some(step)) = (&mut extras.step, info.step) {
        **target = step;
    }
    if let Some(scaling) = &mut extras.scaling {
        let mut reader = SectionReader::new(bytes, scaling_at);
        reader.read_into(scaling.mean);
        reader.read_into(scaling.std);
    }
    Ok(info)
}

/// Returns the CRC-32/ISO-HDLC of `bytes` (reflected polynomial `0xEDB88320`, initial value
/// and final XOR `0xFFFFFFFF`), the CRC of zlib, PNG and Ethernet.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc = CRC_TABLE[((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8);
    }
    crc ^ 0xFFFF_FFFF
}

/// The CRC of each byte value, one bit at a time, computed at compile time.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// Writes `f32` values after the header, checking each for finiteness.
struct SectionWriter<'a> {
    out: &'a mut [u8],
    position: usize,
    tensor: usize,
    error: Option<EncodeError>,
}

impl SectionWriter<'_> {
    /// Starts a new section, whose tensors are counted from 0.
    fn start_section(&mut self) {
        self.tensor = 0;
    }

    fn write(&mut self, section: Section, values: &[f32]) {
        if self.error.is_none() {
            if let Some(offset) = values.iter().position(|v| !v.is_finite()) {
                self.error = Some(EncodeError::NonFinite {
                    section,
                    tensor: self.tensor,
                    offset,
                });
            }
        }
        for &value in values {
            self.out[self.position..self.position + 4].copy_from_slice(&value.to_le_bytes());
            self.position += 4;
        }
        self.tensor += 1;
    }
}

/// Reads `f32` values of one section, whose length [`decode`] has already checked.
struct SectionReader<'a> {
    bytes: &'a [u8],
    position: usize,
    tensor: usize,
    error: Option<DecodeError>,
}

impl<'a> SectionReader<'a> {
    fn new(bytes: &'a [u8], position: usize) -> Self {
        Self {
            bytes,
            position,
            tensor: 0,
            error: None,
        }
    }

    fn value(&self, index: usize) -> f32 {
        let at = self.position + 4 * index;
        f32::from_le_bytes([
            self.bytes[at],
            self.bytes[at + 1],
            self.bytes[at + 2],
            self.bytes[at + 3],
        ])
    }

    /// Checks the next tensor of `len` values and moves past it.
    fn check_finite(&mut self, section: Section, len: usize) {
        if self.error.is_none() {
            if let Some(offset) = (0..len).find(|&i| !self.value(i).is_finite()) {
                self.error = Some(DecodeError::NonFinite {
                    section,
                    tensor: self.tensor,
                    offset,
                });
            }
        }
        self.position += 4 * len;
        self.tensor += 1;
    }

    /// Copies the next tensor into `values` and moves past it.
    fn read_into(&mut self, values: &mut [f32]) {
        for (i, value) in values.iter_mut().enumerate() {
            *value = self.value(i);
        }
        self.position += 4 * values.len();
    }

    fn result(&self) -> Result<(), DecodeError> {
        self.error.map_or(Ok(()), Err)
    }
}

/// Returns `count` as a `u32`.
///
/// # Panics
/// When `count` exceeds `u32::MAX`, which needs more than 16 GiB of `f32` values.
fn count_to_u32(count: usize) -> u32 {
    u32::try_from(count).expect("checkpoint section exceeds u32::MAX values")
}

fn check_absent(flags: u16, flag: u16, section: Section, count: usize) -> Result<(), DecodeError> {
    if flags & flag == 0 && count != 0 {
        return Err(DecodeError::LengthMismatch {
            section,
            expected: 0,
            found: count,
        });
    }
    Ok(())
}

fn check_length(
    section: Section,
    expected: usize,
    found: Option<usize>,
) -> Result<(), DecodeError> {
    match found {
        None => Err(DecodeError::MissingSection { section }),
        Some(found) if found != expected => Err(DecodeError::LengthMismatch {
            section,
            expected,
            found,
        }),
        Some(_) => Ok(()),
    }
}

fn read_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Zeroed;
    use crate::{build, weather, Dense, Init, Relu};

    type AdamState = (
        <weather::Model as Layer>::Grads,
        <weather::Model as Layer>::Grads,
    );

    /// A model of another structure than `weather::Model`.
    type OtherModel = crate::seq![Dense<10, 8, Relu>, Dense<8, 3>];

    const WEATHER_LEN: usize = encoded_len::<weather::Model>(0, 0);
    const FULL_LEN: usize = encoded_len::<weather::Model>(AdamState::LEN, weather::INPUTS);

    fn numbered_state() -> AdamState {
        let mut state = AdamState::zeroed();
        let mut next = 0.0f32;
        state.for_each_mut(&mut |values| {
            for v in values {
                next += 0.25;
                *v = next;
            }
        });
        state
    }

    fn scaler() -> Standardizer<{ weather::INPUTS }> {
        Standardizer {
            mean: core::array::from_fn(|i| i as f32 * 1.5 - 3.0),
            std: core::array::from_fn(|i| i as f32 + 0.5),
        }
    }

    fn encode_weather(model: &weather::Model) -> [u8; WEATHER_LEN] {
        let mut bytes = [0u8; WEATHER_LEN];
        let written = encode(model, &Extras::default(), &mut bytes).unwrap();
        assert_eq!(written, WEATHER_LEN);
        bytes
    }

    /// Rewrites the CRC after a deliberate change, so that later checks are reached.
    fn fix_crc(bytes: &mut [u8]) {
        let len = bytes.len();
        let crc = crc32(&bytes[..len - CRC_LEN]);
        bytes[len - CRC_LEN..].copy_from_slice(&crc.to_le_bytes());
    }

    #[test]
    fn crc32_check_value() {
        // The standard check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn weather_sizes() {
        // 32-byte header, 4 bytes per value, 4-byte CRC.
        assert_eq!(WEATHER_LEN, 32 + 4 * 2883 + 4);
        assert_eq!(WEATHER_LEN, 11_568);
        assert_eq!(FULL_LEN, 32 + 4 * (3 * 2883 + 20) + 4);
        assert_eq!(FULL_LEN, 34_712);
    }

    #[test]
    fn round_trip_all_sections() {
        let model: weather::Model = build(Init::PyTorch, 3);
        let state = numbered_state();
        let scaler = scaler();
        let extras = Extras {
            optimizer_state: Some(&state),
            step: Some(1234),
            scaling: Some(Scaling::from_standardizer(&scaler)),
        };
        let mut bytes = [0u8; FULL_LEN];
        assert_eq!(encode(&model, &extras, &mut bytes), Ok(FULL_LEN));

        let mut restored = weather::Model::zeroed();
        let mut restored_state = AdamState::zeroed();
        let mut restored_step = 0u32;
        let mut restored_scaler = Standardizer::<{ weather::INPUTS }>::IDENTITY;
        let info = decode(
            &bytes,
            &mut restored,
            &mut ExtrasMut {
                optimizer_state: Some(&mut restored_state),
                step: Some(&mut restored_step),
                scaling: Some(ScalingMut::from_standardizer(&mut restored_scaler)),
            },
        )
        .unwrap();

        assert_eq!(restored, model);
        assert_eq!(restored_state.0, state.0);
        assert_eq!(restored_state.1, state.1);
        assert_eq!(restored_step, 1234);
        assert_eq!(restored_scaler, scaler);
        assert_eq!(
            info,
            Info {
                version: VERSION,
                fingerprint: Fingerprint::of::<weather::Model>(),
                parameters: 2883,
                optimizer_state: Some(2 * 2883),
                step: Some(1234),
                scaling_features: Some(weather::INPUTS),
                len: FULL_LEN,
                crc: read_u32(&bytes, FULL_LEN - CRC_LEN),
            }
        );

        // Encoding the restored values again gives the same bytes.
        let mut again = [0u8; FULL_LEN];
        let extras = Extras {
            optimizer_state: Some(&restored_state),
            step: Some(restored_step),
            scaling: Some(Scaling::from_standardizer(&restored_scaler)),
        };
        encode(&restored, &extras, &mut again).unwrap();
        assert_eq!(again, bytes);
    }

    #[test]
    fn sections_without_target_are_skipped() {
        let model: weather::Model = build(Init::PyTorch, 4);
        let state = numbered_state();
        let extras = Extras {
            optimizer_state: Some(&state),
            step: Some(9),
            scaling: None,
        };
        let mut bytes = [0u8; FULL_LEN];
        let len = encode(&model, &extras, &mut bytes).unwrap();
        assert_eq!(len, encoded_len::<weather::Model>(AdamState::LEN, 0));

        // Trailing bytes after the CRC are ignored.
        let mut restored = weather::Model::zeroed();
        let info = decode(&bytes, &mut restored, &mut ExtrasMut::default()).unwrap();
        assert_eq!(restored, model);
        assert_eq!(info.len, len);
        assert_eq!(info.step, Some(9));
        assert_eq!(info.scaling_features, None);
    }

    #[test]
    fn buffer_too_small() {
        let model: weather::Model = build(Init::PyTorch, 5);
        let mut bytes = [0u8; WEATHER_LEN - 1];
        assert_eq!(
            encode(&model, &Extras::default(), &mut bytes),
            Err(EncodeError::BufferTooSmall {
                needed: WEATHER_LEN,
                available: WEATHER_LEN - 1
            })
        );
    }

    #[test]
    fn encode_rejects_non_finite() {
        let mut model: weather::Model = build(Init::PyTorch, 5);
        model.trunk.second.bias[7] = f32::INFINITY;
        let mut bytes = [0u8; WEATHER_LEN];
        assert_eq!(
            encode(&model, &Extras::default(), &mut bytes),
            Err(EncodeError::NonFinite {
                section: Section::Parameters,
                tensor: 3,
                offset: 7
            })
        );
    }

    #[test]
    fn wrong_magic() {
        let model: weather::Model = build(Init::PyTorch, 6);
        let mut bytes = encode_weather(&model);
        bytes[0] = b'X';
        fix_crc(&mut bytes);
        let mut target = weather::Model::zeroed();
        assert_eq!(
            decode(&bytes, &mut target, &mut ExtrasMut::default()),
            Err(DecodeError::BadMagic)
        );
        assert_eq!(target, weather::Model::zeroed());
    }

    #[test]
    fn unsupported_version() {
        let model: weather::Model = build(Init::PyTorch, 6);
        let mut bytes = encode_weather(&model);
        bytes[4..6].copy_from_slice(&2u16.to_le_bytes());
        fix_crc(&mut bytes);
        assert_eq!(
            inspect(&bytes),
            Err(DecodeError::UnsupportedVersion { found: 2 })
        );
    }

    #[test]
    fn unknown_flags() {
        let model: weather::Model = build(Init::PyTorch, 6);
        let mut bytes = encode_weather(&model);
        bytes[6..8].copy_from_slice(&0x0010u16.to_le_bytes());
        fix_crc(&mut bytes);
        assert_eq!(
            inspect(&bytes),
            Err(DecodeError::UnsupportedFlags { found: 0x0010 })
        );
    }

    #[test]
    fn wrong_model_structure() {
        let other: OtherModel = build(Init::PyTorch, 7);
        let mut bytes = [0u8; encoded_len::<OtherModel>(0, 0)];
        encode(&other, &Extras::default(), &mut bytes).unwrap();

        let original: weather::Model = build(Init::PyTorch, 8);
        let mut target = original;
        assert_eq!(
            decode(&bytes, &mut target, &mut ExtrasMut::default()),
            Err(DecodeError::FingerprintMismatch {
                expected: Fingerprint::of::<weather::Model>(),
                found: Fingerprint::of::<OtherModel>(),
            })
        );
        assert_eq!(target, original);
    }

    #[test]
    fn every_truncation_rejected() {
        let model: weather::Model = build(Init::PyTorch, 9);
        let scaler = scaler();
        let extras = Extras {
            optimizer_state: None,
            step: Some(77),
            scaling: Some(Scaling::from_standardizer(&scaler)),
        };
        let mut bytes = [0u8; encoded_len::<weather::Model>(0, weather::INPUTS)];
        encode(&model, &extras, &mut bytes).unwrap();

        let original: weather::Model = build(Init::PyTorch, 10);
        let mut target = original;
        let mut step = 5u32;
        let mut restored_scaler = Standardizer::<{ weather::INPUTS }>::IDENTITY;
        for len in 0..bytes.len() {
            let result = decode(
                &bytes[..len],
                &mut target,
                &mut ExtrasMut {
                    optimizer_state: None,
                    step: Some(&mut step),
                    scaling: Some(ScalingMut::from_standardizer(&mut restored_scaler)),
                },
            );
            let needed = if len < HEADER_LEN + CRC_LEN {
                HEADER_LEN + CRC_LEN
            } else {
                bytes.len()
            };
            assert_eq!(
                result,
                Err(DecodeError::Truncated {
                    needed,
                    available: len
                }),
                "truncated to {len} bytes"
            );
            assert_eq!(target, original, "truncated to {len} bytes");
            assert_eq!(step, 5, "truncated to {len} bytes");
            assert_eq!(restored_scaler, Standardizer::IDENTITY);
        }
    }

    #[test]
    fn flipped_bit_rejected() {
        let model: weather::Model = build(Init::PyTorch, 11);
        let bytes = encode_weather(&model);
        let original: weather::Model = build(Init::PyTorch, 12);
        let mut target = original;

        // A flipped bit in a parameter is caught by the CRC.
        let mut corrupted = bytes;
        corrupted[HEADER_LEN + 1000] ^= 0x10;
        let stored = read_u32(&bytes, WEATHER_LEN - CRC_LEN);
        assert_eq!(
            decode(&corrupted, &mut target, &mut ExtrasMut::default()),
            Err(DecodeError::CrcMismatch {
                stored,
                computed: crc32(&corrupted[..WEATHER_LEN - CRC_LEN]),
            })
        );
        assert_eq!(target, original);

        // A flipped bit anywhere is rejected; outside the magic, version, flags and counts it
        // is a CRC mismatch.
        for at in 0..WEATHER_LEN {
            let mut corrupted = bytes;
            corrupted[at] ^= 1 << (at % 8);
            let result = decode(&corrupted, &mut target, &mut ExtrasMut::default());
            assert!(result.is_err(), "bit flipped in byte {at}");
            let in_checked_header = at < 8 || (16..HEADER_LEN).contains(&at);
            if !in_checked_header {
                assert!(
                    matches!(result, Err(DecodeError::CrcMismatch { .. })),
                    "bit flipped in byte {at}: {result:?}"
                );
            }
            assert_eq!(target, original, "bit flipped in byte {at}");
        }
    }

    #[test]
    fn non_finite_parameter_rejected() {
        let model: weather::Model = build(Init::PyTorch, 13);
        let mut bytes = encode_weather(&model);
        // Tensor 2 is "0.trunk.1.weight"; its value 5 follows 10·64 + 64 values.
        let at = HEADER_LEN + 4 * (10 * 64 + 64 + 5);
        bytes[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        fix_crc(&mut bytes);

        let original: weather::Model = build(Init::PyTorch, 14);
        let mut target = original;
        assert_eq!(
            decode(&bytes, &mut target, &mut ExtrasMut::default()),
            Err(DecodeError::NonFinite {
                section: Section::Parameters,
                tensor: 2,
                offset: 5
            })
        );
        assert_eq!(target, original);
    }

    #[test]
    fn missing_and_mismatched_sections() {
        let model: weather::Model = build(Init::PyTorch, 15);
        let bytes = encode_weather(&model);
        let original: weather::Model = build(Init::PyTorch, 16);
        let mut target = original;

        let mut state = AdamState::zeroed();
        assert_eq!(
            decode(
                &bytes,
                &mut target,
                &mut ExtrasMut {
                    optimizer_state: Some(&mut state),
                    ..ExtrasMut::default()
                }
            ),
            Err(DecodeError::MissingSection {
                section: Section::OptimizerState
            })
        );
        let mut step = 0;
        assert_eq!(
            decode(
                &bytes,
                &mut target,
                &mut ExtrasMut {
                    step: Some(&mut step),
                    ..ExtrasMut::default()
                }
            ),
            Err(DecodeError::MissingSection {
                section: Section::Step
            })
        );
        assert_eq!(target, original);

        // Adam's two moments do not fit momentum SGD's one buffer.
        let adam = numbered_state();
        let mut with_state = [0u8; FULL_LEN];
        let extras = Extras {
            optimizer_state: Some(&adam),
            ..Extras::default()
        };
        encode(&model, &extras, &mut with_state).unwrap();
        let mut momentum = <weather::Model as Layer>::Grads::zeroed();
        assert_eq!(
            decode(
                &with_state,
                &mut target,
                &mut ExtrasMut {
                    optimizer_state: Some(&mut momentum),
                    ..ExtrasMut::default()
                }
            ),
            Err(DecodeError::LengthMismatch {
                section: Section::OptimizerState,
                expected: 2883,
                found: 2 * 2883
            })
        );
        assert_eq!(target, original);
    }
}
