//! Maps defined by the caller (type, key size, value size, max entries) and the map helpers:
//! lookup/update/delete for array, per-CPU array (one CPU is modelled) and hash maps, and
//! push/pop/peek for queue and stack maps. Values live in [`RegionKind::MapValue`] regions, so a
//! looked-up pointer is an ordinary bounds-checked pointer. Program arrays hold program ids for
//! tail calls (handled by the VM). LRU hash maps evict the least recently used key when full.
//! Ring buffers keep their records in reservation order ([`super::ringbuf`] has their helpers).
//! `bpf_for_each_map_elem` visits arrays by index and hash maps in ascending key-byte order (the
//! kernel's bucket order depends on a per-boot hash seed, so no order is more faithful).

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
/// `BPF_FUNC_for_each_map_elem`.
pub const BPF_FUNC_FOR_EACH_MAP_ELEM: i32 = 164;

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
    /// `BPF_MAP_TYPE_LRU_HASH` (and `LRU_PERCPU_HASH`, one CPU): a full map evicts its least
    /// recently used key on insert.
    LruHash,
    /// `BPF_MAP_TYPE_RINGBUF`: `max_entries` is the data size in bytes.
    Ringbuf,
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
    /// Entries and recency (least recent first).
    Lru(HashMap<Vec<u8>, RegionId>, VecDeque<Vec<u8>>),
    Ring(super::ringbuf::Ring),
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
            MapKind::LruHash => Store::Lru(HashMap::new(), VecDeque::new()),
            MapKind::Ringbuf => Store::Ring(super::ringbuf::Ring::new(def.max_entries)),
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

    /// The value address for `key` (array index or hash key), if present. Does not count as a
    /// use for LRU maps (the helper does).
    pub fn lookup(&self, handle: u64, key: &[u8]) -> Option<u64> {
        let m = self.get(handle)?;
        let id = match &m.store {
            Store::Array(v) => *v.get(array_index(key)? as usize)?,
            Store::Hash(h) | Store::Lru(h, _) => *h.get(key)?,
            _ => return None,
        };
        Some(Memory::addr(id, 0))
    }

    /// The ring buffer behind a handle.
    pub fn ring(&self, handle: u64) -> Option<&super::ringbuf::Ring> {
        match self.get(handle).map(|m| &m.store) {
            Some(Store::Ring(r)) => Some(r),
            _ => None,
        }
    }

    pub(crate) fn ring_mut(&mut self, handle: u64) -> Option<&mut super::ringbuf::Ring> {
        let i = self.index(handle)?;
        match self.maps.get_mut(i).map(|m| &mut m.store) {
            Some(Store::Ring(r)) => Some(r),
            _ => None,
        }
    }

    /// Every ring buffer, for finding the one a sample belongs to.
    pub(crate) fn rings_mut(&mut self) -> impl Iterator<Item = &mut super::ringbuf::Ring> {
        self.maps.iter_mut().filter_map(|m| match &mut m.store {
            Store::Ring(r) => Some(r),
            _ => None,
        })
    }

    /// (key, value region) pairs in visiting order for `bpf_for_each_map_elem`.
    fn elements(&self, i: usize) -> Vec<(Vec<u8>, RegionId)> {
        match &self.maps[i].store {
            Store::Array(v) => {
                v.iter().enumerate().map(|(k, &id)| ((k as u32).to_le_bytes().to_vec(), id)).collect()
            }
            Store::Hash(h) | Store::Lru(h, _) => {
                let mut e: Vec<_> = h.iter().map(|(k, &id)| (k.clone(), id)).collect();
                e.sort();
                e
            }
            _ => Vec::new(),
        }
    }
}

/// Marks `key` most recently used.
fn touch(order: &mut VecDeque<Vec<u8>>, key: &[u8]) {
    if let Some(p) = order.iter().position(|k| k == key) {
        let k = order.remove(p).expect("position is in range");
        order.push_back(k);
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
    let (i, def) = map_arg(ctx, a[0])?;
    let key = ctx.vm.memory.read_bytes(a[1], def.key_size)?.to_vec();
    if let Store::Lru(_, order) = &mut ctx.vm.maps.maps[i].store {
        touch(order, &key);
    }
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
        Store::Lru(h, order) => match (h.get(&key), flags) {
            (Some(_), BPF_NOEXIST) => return Ok((-EEXIST) as u64),
            (None, BPF_EXIST) => return Ok((-ENOENT) as u64),
            (Some(&id), _) => {
                touch(order, &key);
                id
            }
            (None, _) => {
                if h.len() >= def.max_entries as usize {
                    if let Some(old) = order.pop_front() {
                        h.remove(&old);
                    }
                }
                let id = vm.memory.map(RegionKind::MapValue { map: i }, vec![0; value.len()], true);
                h.insert(key.clone(), id);
                order.push_back(key);
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
        Store::Lru(h, order) => {
            order.retain(|k| *k != key);
            match h.remove(&key) {
                Some(region) => {
                    ctx.vm.maps.retired.push(region);
                    0
                }
                None => (-ENOENT) as u64,
            }
        }
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

/// `bpf_for_each_map_elem(map, callback, ctx, flags)`: calls `callback(map, &key, &value, ctx)`
/// per element until it returns non-zero; returns the number of calls. The key is copied into
/// a fresh read-only region per element, as the kernel passes a pointer to its own copy.
fn for_each(ctx: &mut HelperCtx<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (i, _) = map_arg(ctx, a[0])?;
    if a[3] != 0 {
        return Ok((-EINVAL) as u64);
    }
    let mut n = 0u64;
    for (key, id) in ctx.vm.maps.elements(i) {
        // A callback may have deleted a later hash element.
        let still = match &ctx.vm.maps.maps[i].store {
            Store::Hash(h) | Store::Lru(h, _) => h.contains_key(&key),
            _ => true,
        };
        if !still {
            continue;
        }
        let k = ctx.vm.memory.map(RegionKind::Plain, key, false);
        n += 1;
        let r = ctx
            .vm
            .call_code(a[1], [a[0], Memory::addr(k, 0), Memory::addr(id, 0), a[2], 0], ctx.depth)
            .map_err(|e| HelperError::Callback(Box::new(e)))?;
        if r != 0 {
            break;
        }
    }
    Ok(n)
}

/// Registers the map helpers (lookup, update, delete, push, pop, peek, for_each) in `h`.
pub fn register(h: &mut Helpers) {
    h.register(BPF_FUNC_MAP_LOOKUP_ELEM, Rc::new(lookup));
    h.register(BPF_FUNC_MAP_UPDATE_ELEM, Rc::new(update));
    h.register(BPF_FUNC_MAP_DELETE_ELEM, Rc::new(delete));
    h.register(BPF_FUNC_MAP_PUSH_ELEM, Rc::new(push));
    h.register(BPF_FUNC_MAP_POP_ELEM, Rc::new(|c: &mut HelperCtx<'_>, a| pop_or_peek(c, a, true)));
    h.register(BPF_FUNC_MAP_PEEK_ELEM, Rc::new(|c: &mut HelperCtx<'_>, a| pop_or_peek(c, a, false)));
    h.register(BPF_FUNC_FOR_EACH_MAP_ELEM, Rc::new(for_each));
}
