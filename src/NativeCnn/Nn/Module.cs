// Module: the base of every layer and model. A module owns named parameters (persistent leaf tensors
// with RequiresGrad), named buffers (persistent state such as BatchNorm's running statistics) and
// named child modules; names join with '.' exactly as in PyTorch ("0.weight", "1.running_mean"), so
// a PyTorch state_dict maps one to one. Must hold: registration order is the order of Parameters()
// and StateDict() (own parameters, own buffers, then children, recursively), as in torch.nn.Module.

namespace NativeCnn.Nn;

/// <summary>The base of every layer and model (torch.nn.Module): named parameters, buffers and child modules, a training/evaluation mode, state dicts under PyTorch's names, and moving to a device. Subclass it, register parameters and children in the constructor, and implement <see cref="Forward"/>.</summary>
public abstract class Module
{
    private readonly List<(string Name, Tensor Value)> _parameters = new();
    private readonly List<(string Name, Tensor Value)> _buffers = new();
    private readonly List<(string Name, Module Value)> _children = new();

    /// <summary>True in training mode (the default): BatchNorm uses batch statistics, Dropout drops.</summary>
    public bool Training { get; private set; } = true;

    /// <summary>The module's computation on <paramref name="x"/> (for image models (N, C, H, W)); records the autograd graph unless inside <see cref="Autograd.NoGrad"/>.</summary>
    public abstract Tensor Forward(Tensor x);

    /// <summary>Registers a parameter: it is made a persistent leaf that requires grad.</summary>
    protected Tensor RegisterParameter(string name, Tensor value)
    {
        CheckName(name);
        if (!value.IsLeaf)
            throw new NativeCnnException($"{GetType().Name}: parameter '{name}' must be a leaf tensor (use Detach()), got one made by '{value.GradFn!.Name}'");
        value.Keep();
        value.RequiresGrad = true;
        _parameters.Add((name, value));
        return value;
    }

    /// <summary>Registers persistent non-trainable state saved in the state dict (running statistics, counters).</summary>
    protected Tensor RegisterBuffer(string name, Tensor value)
    {
        CheckName(name);
        value.Keep();
        _buffers.Add((name, value));
        return value;
    }

    /// <summary>Registers a child module under <paramref name="name"/>; its entries are named "name.entry".</summary>
    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        CheckName(name);
        ArgumentNullException.ThrowIfNull(module);
        _children.Add((name, module));
        return module;
    }

    private void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.'))
            throw new NativeCnnException($"{GetType().Name}: a parameter, buffer or module name must be non-empty and contain no '.', got '{name}'");
        if (_parameters.Any(p => p.Name == name) || _buffers.Any(b => b.Name == name) || _children.Any(c => c.Name == name))
            throw new NativeCnnException($"{GetType().Name}: the name '{name}' is already registered");
    }

    /// <summary>Direct children with their names.</summary>
    public IEnumerable<(string Name, Module Module)> NamedChildren()
    {
        foreach (var (name, m) in _children) yield return (name, m);
    }

    /// <summary>This module ("") and every descendant, with dotted names, in registration order.</summary>
    public IEnumerable<(string Name, Module Module)> NamedModules(string prefix = "")
    {
        yield return (prefix, this);
        foreach (var (name, child) in _children)
            foreach (var entry in child.NamedModules(Join(prefix, name)))
                yield return entry;
    }

    /// <summary>Every parameter with its dotted name ("conv1.weight"), own ones first then each child's, in registration order; <paramref name="prefix"/> is put before each name.</summary>
    public IEnumerable<(string Name, Tensor Value)> NamedParameters(string prefix = "")
    {
        foreach (var (name, p) in _parameters) yield return (Join(prefix, name), p);
        foreach (var (name, child) in _children)
            foreach (var entry in child.NamedParameters(Join(prefix, name)))
                yield return entry;
    }

    /// <summary>Every parameter (trainable tensor), in the order of <see cref="NamedParameters"/>.</summary>
    public IEnumerable<Tensor> Parameters() => NamedParameters().Select(p => p.Value);

    /// <summary>Every buffer (persistent non-trainable state such as running statistics) with its dotted name, in registration order; <paramref name="prefix"/> is put before each name.</summary>
    public IEnumerable<(string Name, Tensor Value)> NamedBuffers(string prefix = "")
    {
        foreach (var (name, b) in _buffers) yield return (Join(prefix, name), b);
        foreach (var (name, child) in _children)
            foreach (var entry in child.NamedBuffers(Join(prefix, name)))
                yield return entry;
    }

    /// <summary>Parameters and buffers by PyTorch name, in torch's order. The tensors share memory with
    /// the module (detached views, as torch's state_dict): copy them to keep a snapshot.</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var state = new Dictionary<string, Tensor>();
        CollectState(state, "", detach: true);
        return state;
    }

    private void CollectState(Dictionary<string, Tensor> state, string prefix, bool detach)
    {
        foreach (var (name, p) in _parameters) state[Join(prefix, name)] = detach ? p.Detach() : p;
        foreach (var (name, b) in _buffers) state[Join(prefix, name)] = detach ? b.Detach() : b;
        foreach (var (name, child) in _children) child.CollectState(state, Join(prefix, name), detach);
    }

    /// <summary>Copies values into this module's parameters and buffers, in place. Shapes must match
    /// exactly; with <paramref name="strict"/>, the key sets must match too. Nothing is copied unless
    /// every check passes, and the error lists every missing, unexpected and mis-shaped key. Returns the
    /// missing and unexpected keys (torch's load_state_dict result; empty lists when strict).</summary>
    public LoadStateDictResult LoadStateDict(IReadOnlyDictionary<string, Tensor> state, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(state);
        var targets = new List<(string Name, Tensor Target, Tensor Source)>();
        var missing = new List<string>();
        var mismatched = new List<string>();
        var own = new Dictionary<string, Tensor>();
        CollectState(own, "", detach: false);
        foreach (var (name, target) in own)
        {
            if (!state.TryGetValue(name, out var source)) { missing.Add(name); continue; }
            if (!Shape.Equal(source.ShapeArray, target.ShapeArray))
                mismatched.Add($"{name}: expected shape {Shape.Format(target.ShapeArray)}, got {Shape.Format(source.ShapeArray)}");
            else
                targets.Add((name, target, source));
        }
        var unexpected = state.Keys.Where(k => !own.ContainsKey(k)).ToList();

        var problems = new List<string>();
        if (mismatched.Count > 0) problems.Add("shape mismatch for " + string.Join("; ", mismatched));
        if (strict && missing.Count > 0) problems.Add("missing keys: " + string.Join(", ", missing));
        if (strict && unexpected.Count > 0) problems.Add("unexpected keys: " + string.Join(", ", unexpected));
        if (problems.Count > 0)
            throw new NativeCnnException($"LoadStateDict into {GetType().Name}: " + string.Join(" | ", problems));

        foreach (var (_, target, source) in targets)
        {
            if (source.Device != target.Device)
                throw new NativeCnnException($"LoadStateDict: tensors on {source.Device} cannot be copied into a module on {target.Device}; move them with To(device)");
            target.CopyFrom(source);
        }
        foreach (var (_, m) in NamedModules()) m.OnStateLoaded();
        return new LoadStateDictResult(missing, unexpected);
    }

    /// <summary>Called after LoadStateDict wrote new values, for modules that mirror a buffer on the host.</summary>
    protected virtual void OnStateLoaded() { }

    /// <summary>Moves every parameter (with its gradient) and buffer of this module and its descendants
    /// to <paramref name="device"/> in place, like torch's <c>module.to(device)</c>: the same tensor
    /// objects, now on the device, still persistent leaves (parameters keep RequiresGrad). Create the
    /// optimizer after moving: its state is made on a parameter's device at the first step, and state
    /// made before a move stays behind (the next step then fails with a device error).</summary>
    public Module To(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        _ = Tensor.BackendFor(device);   // an unavailable device fails before any tensor moved
        foreach (var (_, p) in NamedParameters()) p.MoveInPlace(device);
        foreach (var (_, b) in NamedBuffers()) b.MoveInPlace(device);
        return this;
    }

    /// <summary>The device of this module's first parameter or buffer (the CPU for a module without any).</summary>
    public Device Device => NamedParameters().Select(p => p.Value.Device).Concat(NamedBuffers().Select(b => b.Value.Device)).FirstOrDefault() ?? Device.Cpu;

    /// <summary>Sets training mode on this module and every descendant.</summary>
    public Module Train(bool mode = true)
    {
        Training = mode;
        foreach (var (_, child) in _children) child.Train(mode);
        return this;
    }

    /// <summary>Evaluation mode: BatchNorm uses running statistics, Dropout passes values through.</summary>
    public Module Eval() => Train(false);

    /// <summary>Zero-fills every existing parameter gradient in place (no allocation; grads that were
    /// never made stay null).</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters()) ZeroGradOf(p);
    }

    internal static void ZeroGradOf(Tensor p)
    {
        var g = p.Grad;
        if (g is null) return;
        g.Fill(0f);
    }

    /// <summary>Total number of parameter elements.</summary>
    public long ParameterCount() => Parameters().Sum(p => (long)p.Numel);

    /// <summary>Makes a persistent tensor outside any MemoryScope (parameters and buffers must outlive every step).</summary>
    internal static Tensor Persistent(Func<Tensor> make) => MemoryScope.Outside(make).Keep();

    private static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "." + name;

    /// <summary>The module and its settings as torch prints them, e.g. "Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1))".</summary>
    public override string ToString() => GetType().Name + "(" + ExtraRepr() + ")";

    /// <summary>The layer's settings for ToString, e.g. "1, 32, kernel_size=(3, 3)".</summary>
    protected virtual string ExtraRepr() => "";
}

/// <summary>What LoadStateDict left out: the module's keys absent from the state, and the state's keys
/// the module does not have (as torch's load_state_dict returns them).</summary>
public sealed record LoadStateDictResult(IReadOnlyList<string> MissingKeys, IReadOnlyList<string> UnexpectedKeys);
