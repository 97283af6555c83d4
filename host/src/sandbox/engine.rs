//! Engine settings: the one wasmtime configuration of the whole binary, in two flavours
//! (with and without fuel metering), and the epoch ticker that drives the metered flavour's
//! timeouts.

use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; timeouts are measured in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Bytes of each pooled memory, table and stack kept resident between jobs.
const KEEP_RESIDENT: usize = 2 << 20;

/// Largest linear memory any job may have (the wasm32 maximum).
pub const MAX_MEMORY_BYTES: u64 = 4 << 30;

/// The two engine configurations. Fuel metering slows call-heavy guests down by up to 2×, so
/// only jobs that ask for a fuel limit pay for it.
///
/// Only the metered flavour checks epochs: the check at every loop head and function entry
/// was a third of a call-heavy guest's instructions (fib(25): 6.06 M with it, 4.05 M
/// without, by callgrind). A plain job's timeout is its worker's watchdog's instead
/// (`watchdog.rs`), which costs a worker restart when a job computes past its timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// No fuel metering, no epoch checks.
    Plain,
    /// Fuel metering and epoch checks.
    Metered,
}

impl Flavor {
    /// Whether code of this flavour checks the epoch deadline (and so ends a computing
    /// guest at its timeout by itself).
    pub fn checks_epochs(self) -> bool {
        self == Flavor::Metered
    }

    /// The flavour a job with (or without) a fuel limit needs.
    pub fn for_fuel(fuel: Option<u64>) -> Flavor {
        if fuel.is_some() { Flavor::Metered } else { Flavor::Plain }
    }

    fn tag(self) -> &'static str {
        self.as_str()
    }

    /// Its name: `plain` or `fuel`.
    pub fn as_str(self) -> &'static str {
        match self {
            Flavor::Plain => "plain",
            Flavor::Metered => "fuel",
        }
    }

    /// The flavour named `plain` or `fuel`.
    pub fn parse(name: &str) -> Result<Flavor, String> {
        match name {
            "plain" => Ok(Flavor::Plain),
            "fuel" => Ok(Flavor::Metered),
            other => Err(format!("unknown flavour `{other}`: plain or fuel")),
        }
    }
}

/// Builds an engine of the given flavour. Host and workers build theirs with this same
/// function so that artifacts compiled by one load in the other.
pub fn new_engine(flavor: Flavor) -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(flavor.checks_epochs());
    config.consume_fuel(flavor == Flavor::Metered);
    config.wasm_component_model(true);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling()));
    Engine::new(&config)
}

/// A worker runs one job at a time, so its pool needs room for one job's instances plus
/// slack; the defaults reserve a thousand of each.
fn pooling() -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(16)
        .total_core_instances(64)
        .total_memories(32)
        .total_tables(64)
        .total_stacks(16)
        .max_memories_per_component(16)
        .max_tables_per_component(32)
        .max_memory_size(MAX_MEMORY_BYTES as usize)
        .max_unused_warm_slots(8)
        // Reset small memories, tables and stacks in place between jobs instead of
        // returning them to the kernel: the next job then takes no page faults on them.
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT)
        .async_stack_keep_resident(KEEP_RESIDENT)
        .pagemap_scan(wasmtime::Enabled::Auto);
    pool
}

/// A short tag naming the engine's flavour and compatibility settings, used to key the
/// compiled-artifact cache so an artifact is only ever loaded by an engine that accepts it.
pub fn artifact_tag(engine: &Engine, flavor: Flavor) -> String {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    format!("{}-{:016x}", flavor.tag(), hasher.finish())
}

/// Starts a thread that advances the engine's epoch every [`EPOCH_TICK`] until the engine
/// is dropped.
pub fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch ticker thread");
}

/// Epoch ticks a job with this timeout may run for.
pub fn deadline_ticks(timeout: Option<Duration>) -> u64 {
    match timeout {
        // One extra tick: the first may come at once.
        Some(limit) => (limit.as_nanos() / EPOCH_TICK.as_nanos()) as u64 + 1,
        None => u64::MAX / 2,
    }
}
