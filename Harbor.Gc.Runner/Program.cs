namespace Harbor.Gc.Runner;

internal static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("harbor-gc: commands arrive with the store implementations (see README.md).");
        return args.Length == 0 ? 0 : 2;
    }
}
