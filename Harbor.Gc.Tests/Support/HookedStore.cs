using System.Reflection;
using System.Runtime.ExceptionServices;
using Harbor.Gc.Storage;

namespace Harbor.Gc.Tests.Support;

/// <summary>
/// An <see cref="IWritableRegistryStore"/> (or any interface: a storage driver, say) that forwards every call to the real one and
/// first runs a hook with the method's name and arguments: a test makes another writer act, or a run stop, at an exact point
/// (between the registry API's check and its write; as settling reads the tree again).
/// </summary>
internal class HookedStore : DispatchProxy
{
    private object _inner = null!;
    private Action<string, object?[]> _before = null!;

    public static IWritableRegistryStore Create(IWritableRegistryStore inner, Action<string, object?[]> before) => Create<IWritableRegistryStore>(inner, before);

    public static T Create<T>(T inner, Action<string, object?[]> before)
        where T : class
    {
        var proxy = Create<T, HookedStore>();
        var hooked = (HookedStore)(object)proxy;
        hooked._inner = inner;
        hooked._before = before;
        return proxy;
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        _before(targetMethod.Name, args ?? []);
        try
        {
            return targetMethod.Invoke(_inner, args);
        }
        catch (TargetInvocationException e) when (e.InnerException is { } inner)
        {
            ExceptionDispatchInfo.Throw(inner);
            throw;
        }
    }
}
