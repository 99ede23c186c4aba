using System.Runtime.CompilerServices;

// ML.NET's model persistence API (ModelSaveContext, ModelLoadContext, LoadableClass, VersionInfo)
// is internal; this assembly is compiled against publicized copies (Publicize.targets) and the
// runtime honours these attributes when it runs against the original assemblies.
[assembly: IgnoresAccessChecksTo("Microsoft.ML.Core")]
[assembly: IgnoresAccessChecksTo("Microsoft.ML.Data")]

namespace System.Runtime.CompilerServices
{
    /// <summary>Read by the runtime: lets this assembly use the named assembly's internals.</summary>
    [AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
    internal sealed class IgnoresAccessChecksToAttribute(string assemblyName) : Attribute
    {
        public string AssemblyName { get; } = assemblyName;
    }
}
