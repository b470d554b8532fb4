// The op codes of the elementwise and reduction primitives: one definition, read by the GPU kernels
// (Elementwise.cs), the GPU backend and the CPU backend alike, so a new op is one new member here and a
// case in each switch. In the kernels assembly (the lowest layer) under NativeCnn.Backends, the namespace
// of the IBackend primitives that take them.
// What must hold: every switch over these codes has a case for each member and traps on any other value
// (the backends throw; a kernel writes NaN to every output element and, on a GPU, executes `trap`).
namespace NativeCnn.Backends;

/// <summary>A unary elementwise function y = f(x; a, b), with its gradient.</summary>
public enum UnaryOp
{
    /// <summary>y = a*x + b (scalar add, scalar multiply, negation).</summary>
    Affine,
    /// <summary>y = e^x.</summary>
    Exp,
    /// <summary>y = ln x.</summary>
    Log,
    /// <summary>y = sqrt x.</summary>
    Sqrt,
    /// <summary>y = x^a.</summary>
    Pow,
    /// <summary>y = max(x, 0) (NaN stays NaN; the gradient at 0 is 0).</summary>
    Relu,
    /// <summary>y = 1 / (1 + e^-x).</summary>
    Sigmoid,
    /// <summary>y = tanh x.</summary>
    Tanh,
    /// <summary>y = min(max(x, a), b).</summary>
    Clamp,
}

/// <summary>A binary elementwise arithmetic op y = a op b (over broadcast operands).</summary>
public enum BinaryOp
{
    /// <summary>y = a + b.</summary>
    Add,
    /// <summary>y = a - b.</summary>
    Sub,
    /// <summary>y = a * b.</summary>
    Mul,
    /// <summary>y = a / b.</summary>
    Div,
}

/// <summary>A reduction over one axis.</summary>
public enum ReduceOp
{
    /// <summary>The sum.</summary>
    Sum,
    /// <summary>The sum over the count.</summary>
    Mean,
}
