// Usage: OneDiff.Build.Publicizer OUTPUT_DIR ASSEMBLY.dll [ASSEMBLY.dll ...]
// Writes each assembly to OUTPUT_DIR with every type and member public, as a compile-time
// reference only: the runtime keeps loading the original signed assemblies, and the consuming
// assembly declares [IgnoresAccessChecksTo] for them.
using Mono.Cecil;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: OneDiff.Build.Publicizer OUTPUT_DIR ASSEMBLY.dll [...]");
    return 2;
}
Directory.CreateDirectory(args[0]);
foreach (var path in args.Skip(1))
{
    var resolver = new DefaultAssemblyResolver();
    resolver.AddSearchDirectory(Path.GetDirectoryName(path)!);
    using var assembly = AssemblyDefinition.ReadAssembly(path, new ReaderParameters { AssemblyResolver = resolver });
    foreach (var type in assembly.MainModule.GetTypes())
    {
        if (type.IsNested) type.IsNestedPublic = true; else type.IsPublic = true;
        foreach (var m in type.Methods) if (!m.IsPublic) m.IsPublic = true;
        foreach (var f in type.Fields)
            // Compiler-generated backing fields would clash with same-named events/properties.
            if (!f.IsPublic && !type.Events.Any(e => e.Name == f.Name) && !f.Name.Contains('<')) f.IsPublic = true;
    }
    string output = Path.Combine(args[0], Path.GetFileName(path));
    assembly.Write(output);
    Console.WriteLine($"publicized {Path.GetFileName(path)}");
}
return 0;
