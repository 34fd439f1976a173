// The AWS-managed policies an operator reaches for, built in under their AWS ARNs so that
// `aws iam attach-user-policy --policy-arn arn:aws:iam::aws:policy/...` works unchanged.
// Documents follow the published AWS versions, restricted to the services Berth speaks.

const doc = (statements: object[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements });

const ecrRead = [
  'ecr:GetAuthorizationToken',
  'ecr:BatchCheckLayerAvailability',
  'ecr:GetDownloadUrlForLayer',
  'ecr:GetRepositoryPolicy',
  'ecr:DescribeRepositories',
  'ecr:ListImages',
  'ecr:DescribeImages',
  'ecr:BatchGetImage',
  'ecr:GetLifecyclePolicy',
  'ecr:GetLifecyclePolicyPreview',
  'ecr:ListTagsForResource',
  'ecr:DescribeImageScanFindings',
];

export interface AwsManagedPolicy {
  name: string;
  arn: string;
  policyId: string;
  description: string;
  document: string;
}

const make = (name: string, policyId: string, description: string, document: string): AwsManagedPolicy => ({ name, arn: `arn:aws:iam::aws:policy/${name}`, policyId, description, document });

export const awsManagedPolicies: readonly AwsManagedPolicy[] = [
  make('AdministratorAccess', 'ANPAIWMBCKSKIEE64ZLYK', 'Provides full access to AWS services and resources.', doc([{ Effect: 'Allow', Action: '*', Resource: '*' }])),
  make('IAMFullAccess', 'ANPAI7XKCFMBPM3QQRRVQ', 'Provides full access to IAM.', doc([{ Effect: 'Allow', Action: ['iam:*', 'sts:*'], Resource: '*' }])),
  make('IAMReadOnlyAccess', 'ANPAJKSO7NDY4T57MWDSQ', 'Provides read only access to IAM.', doc([{ Effect: 'Allow', Action: ['iam:Get*', 'iam:List*'], Resource: '*' }])),
  make('AmazonEC2ContainerRegistryFullAccess', 'ANPAIESRL7KD7IIVF6V4W', 'Provides administrative access to Amazon ECR resources.', doc([{ Effect: 'Allow', Action: ['ecr:*'], Resource: '*' }])),
  make(
    'AmazonEC2ContainerRegistryPowerUser',
    'ANPAJDNE5PIHROIBGGDDW',
    'Provides full access to Amazon EC2 Container Registry repositories, but does not allow repository deletion or policy changes.',
    doc([{ Effect: 'Allow', Action: [...ecrRead, 'ecr:InitiateLayerUpload', 'ecr:UploadLayerPart', 'ecr:CompleteLayerUpload', 'ecr:PutImage'], Resource: '*' }]),
  ),
  make('AmazonEC2ContainerRegistryReadOnly', 'ANPAIFYZPA37OOHVIH7KQ', 'Provides read-only access to Amazon EC2 Container Registry repositories.', doc([{ Effect: 'Allow', Action: ecrRead, Resource: '*' }])),
];

export function awsManagedPolicy(arn: string): AwsManagedPolicy | undefined {
  return awsManagedPolicies.find((p) => p.arn === arn);
}
