//! Maps defined by the caller (type, key size, value size, max entries) and the map helpers:
//! lookup/update/delete for array, per-CPU array (one CPU is modelled) and hash maps, and
//! push/pop/peek for queue and stack maps. Values live in [`RegionKind::MapValue`] regions, so a
//! looked-up pointer is an ordinary bounds-checked pointer. Program arrays hold program ids for
//! tail calls (handled by the VM).

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use super::helpers::{HelperCtx, HelperError, Helpers};
use super::memory::{Memory, RegionId, RegionKind};

/// Tag of map handles (what `ld_imm64` with `BPF_PSEUDO_MAP_FD` loads): `MAP_BASE | index`.
pub const MAP_BASE: u64 = 0xfffd_0000_0000_0000;

/// `BPF_FUNC_map_lookup_elem`.
pub const BPF_FUNC_MAP_LOOKUP_ELEM: i32 = 1;
/// `BPF_FUNC_map_update_elem`.
pub const BPF_FUNC_MAP_UPDATE_ELEM: i32 = 2;
/// `BPF_FUNC_map_delete_elem`.
pub const BPF_FUNC_MAP_DELETE_ELEM: i32 = 3;
/// `BPF_FUNC_tail_call`.
pub const BPF_FUNC_TAIL_CALL: i32 = 12;
/// `BPF_FUNC_map_push_elem`.
pub const BPF_FUNC_MAP_PUSH_ELEM: i32 = 87;
/// `BPF_FUNC_map_pop_elem`.
pub const BPF_FUNC_MAP_POP_ELEM: i32 = 88;
/// `BPF_FUNC_map_peek_elem`.
pub const BPF_FUNC_MAP_PEEK_ELEM: i32 = 89;

const ENOENT: i64 = 2;
const E2BIG: i64 = 7;
const EEXIST: i64 = 17;
const EINVAL: i64 = 22;
const BPF_NOEXIST: u64 = 1;
const BPF_EXIST: u64 = 2;

/// Map type.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MapKind {
    /// `BPF_MAP_TYPE_ARRAY`.
    Array,
    /// `BPF_MAP_TYPE_PERCPU_ARRAY` (one CPU).
    PercpuArray,
    /// `BPF_MAP_TYPE_HASH`.
    Hash,
    /// `BPF_MAP_TYPE_QUEUE` (no key).
    Queue,
    /// `BPF_MAP_TYPE_STACK` (no key).
    Stack,
    /// `BPF_MAP_TYPE_PROG_ARRAY`: values are program ids for tail calls.
    ProgArray,
}

/// A map definition as the caller gives it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MapDef {
    /// Type.
    pub kind: MapKind,
    /// Key size in bytes (4 for arrays, 0 for queue/stack).
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
}

#[derive(Clone, Debug)]
enum Store {
    Array(Vec<RegionId>),
    Hash(HashMap<Vec<u8>, RegionId>),
    Fifo(VecDeque<Vec<u8>>),
    Progs(Vec<Option<u32>>),
}

/// One map's definition and contents.
#[derive(Clone, Debug)]
pub struct MapState {
    /// Its definition.
    pub def: MapDef,
    store: Store,
}

/// All maps of a run.
#[derive(Clone, Debug, Default)]
pub struct Maps {
    maps: Vec<MapState>,
    /// Values of deleted hash entries, unmapped when the run ends.
    pub(crate) retired: Vec<RegionId>,
}

impl Maps {
    /// Creates a map (array values are mapped now, zeroed) and returns its handle (the value a
    /// program's `ld_imm64` map reference should load).
    pub fn create(&mut self, memory: &mut Memory, def: MapDef) -> u64 {
        let index = self.maps.len();
        let store = match def.kind {
            MapKind::Array | MapKind::PercpuArray => Store::Array(
                (0..def.max_entries)
                    .map(|_| {
                        memory.map(
                            RegionKind::MapValue { map: index },
                            vec![0; def.value_size as usize],
                            true,
                        )
                    })
                    .collect(),
            ),
            MapKind::Hash => Store::Hash(HashMap::new()),
            MapKind::Queue | MapKind::Stack => Store::Fifo(VecDeque::new()),
            MapKind::ProgArray => Store::Progs(vec![None; def.max_entries as usize]),
        };
        self.maps.push(MapState { def, store });
        MAP_BASE | index as u64
    }

    /// The map behind a handle.
    pub fn get(&self, handle: u64) -> Option<&MapState> {
        self.index(handle).and_then(|i| self.maps.get(i))
    }

    fn index(&self, handle: u64) -> Option<usize> {
        (handle & 0xffff_0000_0000_0000 == MAP_BASE).then_some((handle & 0xffff_ffff) as usize)
    }

    /// Sets slot `index` of a program array to program id `prog` (or clears it).
    pub fn set_prog(&mut self, handle: u64, index: u32, prog: Option<u32>) -> bool {
        let Some(i) = self.index(handle) else { return false };
        match self.maps.get_mut(i).map(|m| &mut m.store) {
            Some(Store::Progs(v)) => v.get_mut(index as usize).map(|s| *s = prog).is_some(),
            _ => false,
        }
    }

    /// The program id at `index` of a program array.
    pub fn prog_at(&self, handle: u64, index: u32) -> Option<u32> {
        match self.get(handle).map(|m| &m.store) {
            Some(Store::Progs(v)) => v.get(index as usize).copied().flatten(),
            _ => None,
        }
    }

    /// The value address for `key` (array index or hash key), if present.
    pub fn lookup(&self, handle: u64, key: &[u8]) -> Option<u64> {
        let m = self.get(handle)?;
        let id = match &m.store {
            Store::Array(v) => *v.get(array_index(key)? as usize)?,
            Store::Hash(h) => *h.get(key)?,
            _ => return None,
        };
        Some(Memory::addr(id, 0))
    }
}

fn array_index(key: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(key.get(..4)?.try_into().ok()?))
}

fn map_arg(ctx: &HelperCtx<'_>, handle: u64) -> Result<(usize, MapDef), HelperError> {
    let i = ctx.vm.maps.index(handle).filter(|&i| i < ctx.vm.maps.maps.len());
    let i = i.ok_or_else(|| HelperError::Invalid(format!("{handle:#x} is not a map")))?;
    Ok((i, ctx.vm.maps.maps[i].def))
}

fn lookup(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (_, def) = map_arg(ctx, a[0])?;
    let key = ctx.vm.memory.read_bytes(a[1], def.key_size)?.to_vec();
    Ok(ctx.vm.maps.lookup(a[0], &key).unwrap_or(0))
}

fn update(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (i, def) = map_arg(ctx, a[0])?;
    let key = ctx.vm.memory.read_bytes(a[1], def.key_size)?.to_vec();
    let value = ctx.vm.memory.read_bytes(a[2], def.value_size)?.to_vec();
    let flags = a[3];
    if flags > BPF_EXIST {
        return Ok((-EINVAL) as u64);
    }
    let vm = &mut *ctx.vm;
    let target = match &mut vm.maps.maps[i].store {
        Store::Array(v) => {
            if flags == BPF_NOEXIST {
                return Ok((-EEXIST) as u64);
            }
            match array_index(&key).and_then(|k| v.get(k as usize)) {
                Some(&id) => id,
                None => return Ok((-E2BIG) as u64),
            }
        }
        Store::Hash(h) => match (h.get(&key), flags) {
            (Some(_), BPF_NOEXIST) => return Ok((-EEXIST) as u64),
            (None, BPF_EXIST) => return Ok((-ENOENT) as u64),
            (Some(&id), _) => id,
            (None, _) if h.len() >= def.max_entries as usize => return Ok((-E2BIG) as u64),
            (None, _) if vm.memory.mapped() + 1 >= super::memory::MAX_REGIONS => {
                return Err(HelperError::Invalid(format!(
                    "the interpreter holds at most {} map values and contexts",
                    super::memory::MAX_REGIONS - 1
                )))
            }
            (None, _) => {
                let id = vm.memory.map(RegionKind::MapValue { map: i }, vec![0; value.len()], true);
                h.insert(key, id);
                id
            }
        },
        _ => return Ok((-EINVAL) as u64),
    };
    vm.memory.write_bytes(Memory::addr(target, 0), &value)?;
    Ok(0)
}

fn delete(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (i, def) = map_arg(ctx, a[0])?;
    let key = ctx.vm.memory.read_bytes(a[1], def.key_size)?.to_vec();
    Ok(match &mut ctx.vm.maps.maps[i].store {
        Store::Hash(h) => match h.remove(&key) {
            Some(region) => {
                // Like the kernel's RCU-deferred free: pointers to the value stay valid until
                // the run ends; `Vm::run` unmaps retired values before the next run.
                ctx.vm.maps.retired.push(region);
                0
            }
            None => (-ENOENT) as u64,
        },
        _ => (-EINVAL) as u64,
    })
}

fn push(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    const BPF_ANY_EXIST: u64 = BPF_EXIST;
    let (i, def) = map_arg(ctx, a[0])?;
    let value = ctx.vm.memory.read_bytes(a[1], def.value_size)?.to_vec();
    let Store::Fifo(q) = &mut ctx.vm.maps.maps[i].store else { return Ok((-EINVAL) as u64) };
    if q.len() >= def.max_entries as usize {
        // BPF_EXIST replaces the oldest element; otherwise the map is full.
        if a[2] != BPF_ANY_EXIST {
            return Ok((-E2BIG) as u64);
        }
        q.pop_front();
    }
    q.push_back(value);
    Ok(0)
}

fn pop_or_peek(ctx: &mut HelperCtx<'_>, a: [u64; 5], pop: bool) -> Result<u64, HelperError> {
    let (i, def) = map_arg(ctx, a[0])?;
    let Store::Fifo(q) = &mut ctx.vm.maps.maps[i].store else { return Ok((-EINVAL) as u64) };
    let v = match (def.kind, pop) {
        (MapKind::Stack, true) => q.pop_back(),
        (MapKind::Stack, false) => q.back().cloned(),
        (_, true) => q.pop_front(),
        (_, false) => q.front().cloned(),
    };
    let Some(v) = v else { return Ok((-ENOENT) as u64) };
    ctx.vm.memory.write_bytes(a[1], &v)?;
    Ok(0)
}

/// Registers the map helpers (lookup, update, delete, push, pop, peek) in `h`.
pub fn register(h: &mut Helpers) {
    h.register(BPF_FUNC_MAP_LOOKUP_ELEM, Rc::new(lookup));
    h.register(BPF_FUNC_MAP_UPDATE_ELEM, Rc::new(update));
    h.register(BPF_FUNC_MAP_DELETE_ELEM, Rc::new(delete));
    h.register(BPF_FUNC_MAP_PUSH_ELEM, Rc::new(push));
    h.register(BPF_FUNC_MAP_POP_ELEM, Rc::new(|c: &mut HelperCtx<'_>, a| pop_or_peek(c, a, true)));
    h.register(BPF_FUNC_MAP_PEEK_ELEM, Rc::new(|c: &mut HelperCtx<'_>, a| pop_or_peek(c, a, false)));
}
